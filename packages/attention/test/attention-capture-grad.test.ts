/**
 * Gradients into a scoreMod's captured tensors (issue 13): learnable ALiBi slopes and a learnable
 * relative-bias table, on both devices, against central differences of the float64 reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, tensor, sum, mul, add, type Device, type Tensor } from '@attnlab/tensor';
import { attention, causal, scoreMod, reference as R, type MaskMod } from '../src/index.js';
import { rng, randn } from './util.js';

type Build = (values: Float32Array) => ReturnType<typeof scoreMod>;

/** Loss <gOut, out> + <gLse, lse> of the float64 reference for capture values `c`. */
function refLoss(qa: Float32Array, ka: Float32Array, va: Float32Array, dims: R.AttnDims, mask: MaskMod | null, build: Build, c: Float32Array, gOut: Float32Array, gLse: Float32Array): number {
  const r = R.attentionRef(qa, ka, va, dims, { mask, scoreMod: build(c) });
  let l = 0;
  for (let i = 0; i < r.out.length; i++) l += gOut[i]! * r.out[i]!;
  for (let i = 0; i < r.lse.length; i++) if (Number.isFinite(r.lse[i]!)) l += gLse[i]! * r.lse[i]!;
  return l;
}

async function check(dev: Device, label: string, shape: number[], init: Float32Array, src: string, mask: MaskMod | null, seed: number): Promise<void> {
  const r = rng(seed);
  const dims = { B: 2, Hq: 2, Hkv: 1, Nq: 6, Nk: 7, D: 4 };
  const qa = randn(r, 2 * 2 * 6 * 4);
  const ka = randn(r, 2 * 1 * 7 * 4);
  const va = randn(r, 2 * 1 * 7 * 4);
  const c = tensor(init, shape, { device: dev, requiresGrad: true });
  const q = tensor(qa, [2, 2, 6, 4], { device: dev, requiresGrad: true });
  const k = tensor(ka, [2, 1, 7, 4], { device: dev });
  const v = tensor(va, [2, 1, 7, 4], { device: dev });
  const mod = scoreMod(src, { captures: { c }, name: label });
  const res = await attention(q, k, v, { scoreMod: mod, mask });
  const gOut = randn(r, res.out.size);
  const gLse = randn(r, res.lse.size);
  const t = (a: Float32Array, s: readonly number[]): Tensor => tensor(a, s, { device: dev });
  const finite = (await res.lse.data()).every(Number.isFinite);
  const loss = finite ? add(sum(mul(res.out, t(gOut, res.out.shape))), sum(mul(res.lse, t(gLse, res.lse.shape)))) : sum(mul(res.out, t(gOut, res.out.shape)));
  loss.backward();
  const got = await (c.grad as Tensor).data();
  const build: Build = (values) => scoreMod(src, { captures: { c: { shape, dtype: 'float32', data: values } } });
  const gl = finite ? gLse : new Float32Array(gLse.length);
  for (let i = 0; i < init.length; i++) {
    const h = 1e-3;
    const up = Float32Array.from(init);
    const dn = Float32Array.from(init);
    up[i] = up[i]! + h;
    dn[i] = dn[i]! - h;
    // Float32 inputs, float64 arithmetic: the central difference is accurate to ~1e-7.
    const want = (refLoss(qa, ka, va, dims, mask, build, up, gOut, gl) - refLoss(qa, ka, va, dims, mask, build, dn, gOut, gl)) / (2 * (up[i]! - init[i]!));
    assert.ok(Math.abs(got[i]! - want) <= 2e-4 + 2e-3 * Math.abs(want), `${dev.kind} ${label}: d/dc[${i}] is ${got[i]}, central difference ${want}`);
  }
  // Each call reads the tensor's current values (an optimizer step changes them in place).
  const doubled = init.map((x) => 2 * x);
  c.assign(tensor(doubled, shape, { device: dev }));
  const again = await attention(q, k, v, { scoreMod: mod, mask });
  const want = R.attentionRef(qa, ka, va, dims, { mask, scoreMod: build(doubled) }).out;
  const gotAgain = await again.out.data();
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(gotAgain[i]! - want[i]!) <= 1e-4, `${dev.kind} ${label}: out after assign`);
}

test('gradients flow into captured tensors of a scoreMod (learnable ALiBi slopes, relative-bias table)', async () => {
  const devs = [cpuDevice(), await getDevice({ prefer: 'webgpu' })];
  let seed = 1;
  for (const dev of devs) {
    await check(dev, 'alibi slopes', [2], Float32Array.of(0.5, 0.25), '(s, b, h, q, k) => s - c[h] * Math.abs(q - k)', null, seed++);
    await check(dev, 'alibi slopes, causal', [2], Float32Array.of(0.3, 0.7), '(s, b, h, q, k) => s - c[h] * (q - k)', causal(), seed++);
    const table = Float32Array.from({ length: 2 * 13 }, (_, i) => Math.sin(i) * 0.5);
    // Two reads of the table per score, one through a local; Nq 6, Nk 7: q - k + 6 is in [0, 12].
    await check(dev, 'relative bias table', [2, 13], table, '(s, b, h, q, k) => { const rel = q - k + 6; return s * (1 + c[h][12] * 0.1) + c[h][rel] * c[h][rel]; }', null, seed++);
  }
});
