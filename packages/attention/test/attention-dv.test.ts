/**
 * A value head dim different from the query/key dim (Dv != D, issue 13): flash forward and
 * backward on both devices, with masks, GQA, a score mod and sigmoid weights, against float64.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, tensor, sum, mul, add, TensorError, type Device, type Tensor } from '@attnlab/tensor';
import { attention, causal, slidingWindow, scoreMod, reference as R, type MaskMod, type ScoreMod } from '../src/index.js';
import { rng, randn, maxAbsDiff } from './util.js';

interface Case { B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number; Dv: number; mask?: MaskMod; scoreMod?: ScoreMod; sigmoid?: boolean }

async function check(dev: Device, c: Case, seed: number): Promise<void> {
  const r = rng(seed);
  const { B, Hq, Hkv, Nq, Nk, D, Dv } = c;
  const qa = randn(r, B * Hq * Nq * D);
  const ka = randn(r, B * Hkv * Nk * D);
  const va = randn(r, B * Hkv * Nk * Dv);
  const q = tensor(qa, [B, Hq, Nq, D], { device: dev, requiresGrad: true });
  const k = tensor(ka, [B, Hkv, Nk, D], { device: dev, requiresGrad: true });
  const v = tensor(va, [B, Hkv, Nk, Dv], { device: dev, requiresGrad: true });
  const normalize = c.sigmoid ? 'sigmoid' as const : 'softmax' as const;
  const res = await attention(q, k, v, { mask: c.mask ?? null, scoreMod: c.scoreMod ?? null, normalize });
  assert.deepEqual(res.out.shape, [B, Hq, Nq, Dv]);
  const dims = { B, Hq, Hkv, Nq, Nk, D, Dv };
  const opts = { mask: c.mask ?? null, scoreMod: c.scoreMod ?? null, normalize };
  const ref = R.attentionRef(qa, ka, va, dims, opts);
  const label = `${dev.kind} ${JSON.stringify({ ...dims, mask: c.mask?.name, mod: c.scoreMod?.name, normalize })}`;
  assert.ok(maxAbsDiff(await res.out.data(), ref.out) <= 1e-4, `out ${label}`);
  assert.ok(maxAbsDiff(await res.lse.data(), ref.lse) <= 1e-4, `lse ${label}`);
  const gOut = randn(r, ref.out.length);
  const gLse = ref.lse.every(Number.isFinite) ? randn(r, ref.lse.length) : null;
  const t = (a: Float32Array, s: readonly number[]): Tensor => tensor(a, s, { device: dev });
  let loss = sum(mul(res.out, t(gOut, res.out.shape)));
  if (gLse) loss = add(loss, sum(mul(res.lse, t(gLse, res.lse.shape))));
  loss.backward();
  const g = R.attentionRefBackward(qa, ka, va, gOut, gLse, dims, opts);
  for (const [name, x, want] of [['dq', q, g.dq], ['dk', k, g.dk], ['dv', v, g.dv]] as const) {
    const e = maxAbsDiff(await (x.grad as Tensor).data(), want);
    assert.ok(e <= 1e-4, `${name} err ${e} ${label}`);
  }
}

test('Dv != D: flash forward and backward agree with float64 on both devices', async () => {
  const devs = [cpuDevice(), await getDevice({ prefer: 'webgpu' })];
  const alibi = scoreMod((s, b, h, q, k) => s - 0.25 * (h + 1) * Math.abs(q - k), { name: 'alibi' });
  const cases: Case[] = [
    { B: 1, Hq: 2, Hkv: 1, Nq: 9, Nk: 9, D: 16, Dv: 5 },
    { B: 2, Hq: 2, Hkv: 2, Nq: 1, Nk: 7, D: 3, Dv: 32, mask: causal() },
    { B: 1, Hq: 4, Hkv: 2, Nq: 70, Nk: 67, D: 8, Dv: 13, mask: slidingWindow(20) },
    { B: 1, Hq: 2, Hkv: 1, Nq: 6, Nk: 11, D: 16, Dv: 1, scoreMod: alibi },
    { B: 1, Hq: 1, Hkv: 1, Nq: 5, Nk: 5, D: 4, Dv: 64, sigmoid: true },
  ];
  let seed = 1;
  for (const dev of devs) for (const c of cases) await check(dev, c, seed++);
  // The naive (materialised) path too, with GQA.
  for (const dev of devs) {
    const r = rng(99);
    const dims = { B: 1, Hq: 4, Hkv: 2, Nq: 6, Nk: 5, D: 3, Dv: 7 };
    const [qa, ka, va] = [randn(r, 4 * 6 * 3), randn(r, 2 * 5 * 3), randn(r, 2 * 5 * 7)];
    const res = await attention(tensor(qa, [1, 4, 6, 3], { device: dev }), tensor(ka, [1, 2, 5, 3], { device: dev }), tensor(va, [1, 2, 5, 7], { device: dev }), { impl: 'naive', mask: causal() });
    const ref = R.attentionRef(qa, ka, va, dims, { mask: causal() });
    assert.ok(maxAbsDiff(await res.out.data(), ref.out) <= 1e-4, `${dev.kind} naive out`);
  }
});

test('Dv != D: the tiled WebGPU kernel stages V at its own width (matches float64)', async () => {
  const gpu = await getDevice({ prefer: 'webgpu' });
  const r = rng(77);
  const [qa, ka, va] = [randn(r, 4 * 8), randn(r, 4 * 8), randn(r, 4 * 3)];
  const res = await attention(tensor(qa, [1, 1, 4, 8], { device: gpu }), tensor(ka, [1, 1, 4, 8], { device: gpu }), tensor(va, [1, 1, 4, 3], { device: gpu }), { kernel: 'tiled' });
  const ref = R.attentionRef(qa, ka, va, { B: 1, Hq: 1, Hkv: 1, Nq: 4, Nk: 4, D: 8, Dv: 3 }, {});
  assert.ok(maxAbsDiff(await res.out.data(), ref.out) <= 1e-4, 'tiled out');
});

test('Dv != D: v must still match k in batch, heads and length', () => {
  const dev = cpuDevice();
  const q = tensor(new Float32Array(2 * 3 * 4), [1, 2, 3, 4], { device: dev });
  const k = tensor(new Float32Array(2 * 5 * 4), [1, 2, 5, 4], { device: dev });
  const v = tensor(new Float32Array(2 * 6 * 7), [1, 2, 6, 7], { device: dev });
  return assert.rejects(attention(q, k, v), (e: unknown) => e instanceof TensorError && /v \[1, 2, 6, 7\] must be \[B, Hkv, Nk, Dv\]/.test(e.message));
});
