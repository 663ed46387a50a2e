import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, cpuDevice, sum, mul, add, type Tensor } from '@attnlab/tensor';
import {
  attention, causal, slidingWindow, sinks, or, maskMod, scoreMod, createBlockMask, reference as R, ModError,
  type AttentionOptions, type MaskMod, type BlockMask,
} from '../src/index.js';
import { rng, randn, maxAbsDiff } from './util.js';

const dev = cpuDevice();

interface GridCase {
  B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number;
  mask?: MaskMod | BlockMask | null; label: string; backward?: boolean; opts?: AttentionOptions;
}

async function check(c: GridCase, seed: number): Promise<void> {
  const r = rng(seed);
  const { B, Hq, Hkv, Nq, Nk, D } = c;
  const qa = randn(r, B * Hq * Nq * D);
  const ka = randn(r, B * Hkv * Nk * D);
  const va = randn(r, B * Hkv * Nk * D);
  const q = tensor(qa, [B, Hq, Nq, D], { device: dev, requiresGrad: c.backward });
  const k = tensor(ka, [B, Hkv, Nk, D], { device: dev, requiresGrad: c.backward });
  const v = tensor(va, [B, Hkv, Nk, D], { device: dev, requiresGrad: c.backward });
  const opts: AttentionOptions = { ...c.opts, mask: c.mask ?? null };
  const res = await attention(q, k, v, opts);
  const dims = { B, Hq, Hkv, Nq, Nk, D };
  const refMask = c.mask && 'kind' in c.mask && c.mask.kind === 'blockMask' ? c.mask.mask : (c.mask as MaskMod | null);
  const refOpts = { mask: refMask, scoreMod: (opts.scoreMod as never) ?? null, normalize: opts.normalize, scale: opts.scale };
  const ref = R.attentionRef(qa, ka, va, dims, refOpts);
  const out = (await res.out.data()) as Float32Array;
  const lse = (await res.lse.data()) as Float32Array;
  assert.ok(out.every(Number.isFinite), `non-finite out ${c.label}`);
  assert.ok(maxAbsDiff(out, ref.out) <= 1e-4, `out ${maxAbsDiff(out, ref.out)} ${c.label}`);
  assert.ok(maxAbsDiff(lse, ref.lse) <= 1e-4, `lse ${maxAbsDiff(lse, ref.lse)} ${c.label}`);
  if (!c.backward) return;
  const gOut = randn(r, out.length);
  const hasEmpty = ref.lse.some((x) => x === -Infinity);
  const gLse = hasEmpty ? null : randn(r, lse.length);
  const loss = gLse
    ? add(sum(mul(res.out, tensor(gOut, res.out.shape, { device: dev }))), sum(mul(res.lse, tensor(gLse, res.lse.shape, { device: dev }))))
    : sum(mul(res.out, tensor(gOut, res.out.shape, { device: dev })));
  loss.backward();
  const g = R.attentionRefBackward(qa, ka, va, gOut, gLse, dims, refOpts);
  for (const [name, t, want] of [['dq', q, g.dq], ['dk', k, g.dk], ['dv', v, g.dv]] as const) {
    const got = (await (t.grad as Tensor).data()) as Float32Array;
    const e = maxAbsDiff(got, want);
    assert.ok(e <= 1e-4, `${name} err ${e} ${c.label}`);
  }
}

test('attention (CPU flash): randomized grid vs float64 reference, forward and backward', async () => {
  const r = rng(42);
  const Ns = [1, 7, 64, 127, 513];
  const Ds = [16, 32, 64, 128];
  const heads: [number, number][] = [[4, 4], [8, 2], [8, 1]];
  const masks: [string, (nq: number, nk: number, h: number) => MaskMod | BlockMask | null][] = [
    ['none', () => null],
    ['causal', () => causal()],
    ['window', () => slidingWindow(16)],
    ['sinks+window', () => or(sinks(2), slidingWindow(8))],
    ['random blocks', (nq, nk, h) => {
      const blk = Array.from({ length: h }, () => Array.from({ length: Math.ceil(nq / 16) }, () => Array.from({ length: Math.ceil(nk / 16) }, () => (r() < 0.5 ? 1 : 0))));
      return createBlockMask(maskMod((b, hh, q, k) => blk[hh]![Math.floor(q / 16)]![Math.floor(k / 16)] === 1, { captures: { blk } }), { B: 1, H: h, Nq: nq, Nk: nk, blockSize: 16 });
    }],
  ];
  let seed = 1;
  // Every N, D, head layout and mask appears; big sizes get fewer heads to keep the float64 reference fast.
  for (const N of Ns) {
    for (const [mi, [mname, mk]] of masks.entries()) {
      const D = Ds[(seed + mi) % Ds.length]!;
      const [Hq, Hkv] = heads[(seed + mi) % heads.length]!;
      const small = N <= 127;
      const hq = small ? Hq : Hq / Hkv === 1 ? 1 : Hq / Hkv === 4 ? 4 : 8;
      const hkv = small ? Hkv : hq === 1 ? 1 : hq === 4 ? 1 : 1;
      const Nq = mi === 1 && N > 1 ? Math.max(1, Math.floor(N / 3)) : N; // Nq != Nk for causal
      await check({ B: small ? 2 : 1, Hq: hq, Hkv: hkv, Nq, Nk: N, D, mask: mk(Nq, N, hq), label: `N=${N} Nq=${Nq} D=${D} H=${hq}/${hkv} ${mname}`, backward: N <= 513 }, seed++);
    }
  }
  await check({ B: 1, Hq: 1, Hkv: 1, Nq: 2048, Nk: 2048, D: 32, mask: causal(), label: 'N=2048 causal', backward: true }, seed++);
});

test('attention: scoreMod (ALiBi + softcap), sigmoid normalisation, Nq > Nk empty rows', async () => {
  const slopes = new Float32Array([0.5, 0.25, 0.125, 0.0625]);
  await check({
    B: 1, Hq: 4, Hkv: 2, Nq: 33, Nk: 33, D: 16, mask: causal(), backward: true, label: 'alibi+softcap',
    opts: { scoreMod: scoreMod((s, b, h, q, k) => 20 * Math.tanh(s / 20) - slopes[h]! * (q - k), { captures: { slopes } }) },
  }, 5);
  await check({ B: 1, Hq: 2, Hkv: 2, Nq: 40, Nk: 40, D: 32, mask: slidingWindow(9), backward: true, label: 'sigmoid', opts: { normalize: 'sigmoid' } }, 6);
  await check({ B: 1, Hq: 2, Hkv: 1, Nq: 20, Nk: 6, D: 16, mask: causal(), backward: true, label: 'Nq > Nk' }, 7);
  // D not a multiple of 16 takes the plain JS forward instead of WebAssembly SIMD.
  await check({ B: 1, Hq: 2, Hkv: 1, Nq: 70, Nk: 70, D: 12, mask: slidingWindow(20), backward: true, label: 'D=12 (JS path)' }, 8);
  await check({ B: 1, Hq: 2, Hkv: 2, Nq: 30, Nk: 30, D: 12, backward: true, label: 'D=12 sigmoid (JS path)', opts: { normalize: 'sigmoid' } }, 9);
  // Fully masked rows: out 0, lse -Infinity.
  const q = tensor(randn(rng(1), 20 * 16), [1, 1, 20, 16]);
  const k = tensor(randn(rng(2), 6 * 16), [1, 1, 6, 16]);
  const { out, lse } = await attention(q, k, k, { mask: causal() });
  const l = await lse.data();
  assert.equal(l[0], -Infinity);
  assert.ok(Number.isFinite(l[19]!));
  assert.ok((await out.data()).slice(0, 16).every((x) => x === 0));
});

test('attention: naive impl, headGate (with gradient), returnProbs agree with the reference', async () => {
  const r = rng(9);
  const [B, Hq, Hkv, N, D] = [1, 4, 2, 37, 16];
  const qa = randn(r, B * Hq * N * D);
  const ka = randn(r, B * Hkv * N * D);
  const va = randn(r, B * Hkv * N * D);
  const q = tensor(qa, [B, Hq, N, D]);
  const k = tensor(ka, [B, Hkv, N, D]);
  const v = tensor(va, [B, Hkv, N, D]);
  const dims = { B, Hq, Hkv, Nq: N, Nk: N, D };
  for (const normalize of ['softmax', 'sigmoid'] as const) {
    const flash = await attention(q, k, v, { mask: or(sinks(1), slidingWindow(5)), normalize });
    const naive = await attention(q, k, v, { mask: or(sinks(1), slidingWindow(5)), normalize, impl: 'naive' });
    assert.ok(maxAbsDiff(await flash.out.data(), await naive.out.data()) < 1e-5, `naive out ${normalize}`);
    assert.ok(maxAbsDiff(await flash.lse.data(), await naive.lse.data()) < 1e-4, `naive lse ${normalize}`);
  }
  const gate = tensor([1, 0, 0.5, 2], [4], { requiresGrad: true });
  const res = await attention(q, k, v, { mask: causal(), headGate: gate, returnProbs: { heads: [1, 3], rows: [30, 37] } });
  const gOut = randn(r, B * Hq * N * D);
  sum(mul(res.out, tensor(gOut, res.out.shape))).backward();
  const refOpts = { mask: causal(), headGate: [1, 0, 0.5, 2] };
  const ref = R.attentionRef(qa, ka, va, dims, refOpts);
  assert.ok(maxAbsDiff(await res.out.data(), ref.out) < 1e-4);
  const o = await res.out.data();
  assert.ok(o.slice(N * D, 2 * N * D).every((x) => x === 0), 'gate 0 ablates head 1');
  const g = R.attentionRefBackward(qa, ka, va, gOut, null, dims, refOpts);
  assert.ok(maxAbsDiff(await (gate.grad as Tensor).data(), g.dGate) < 1e-3, 'dGate');
  assert.deepEqual(res.probs!.shape, [2, 7, N]);
  const p = await res.probs!.data();
  for (const [hi, h] of [1, 3].entries()) {
    const want = R.attentionProbsRef(qa, ka, dims, 0, h, { mask: causal() }).subarray(30 * N, 37 * N);
    assert.ok(maxAbsDiff(p.subarray(hi * 7 * N, (hi + 1) * 7 * N), want) < 1e-5, `probs head ${h}`);
  }
});

test('attention: clear errors for bad shapes, GQA, scale, masks', async () => {
  const q = tensor(new Float32Array(2 * 3 * 4 * 8), [2, 3, 4, 8]);
  const k = tensor(new Float32Array(2 * 2 * 4 * 8), [2, 2, 4, 8]);
  const k3 = tensor(new Float32Array(2 * 3 * 4 * 8), [2, 3, 4, 8]);
  await assert.rejects(attention(q, k, k), /query heads \(3\) must be a multiple of key\/value heads \(2\)/);
  await assert.rejects(attention(tensor(new Float32Array(8), [1, 8]), k3, k3), /q must be \[B, H, N, D\], got \[1, 8\]/);
  await assert.rejects(attention(q, tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]), k3), /head dim of k/);
  await assert.rejects(attention(q, k3, k3, { scale: Number.NaN }), /scale must be a finite number/);
  await assert.rejects(attention(q, k3, k3, { scale: Infinity }), /scale must be a finite number/);
  await assert.rejects(attention(q, k3, k3, { mask: (b, h, qi, ki) => (qi & 1) === ki }), (e: unknown) => e instanceof ModError && /bitwise operator '&'/.test(e.message));
  await assert.rejects(attention(q, k3, k3, { mask: [causal()] }), /1 per-head masks for 3 query heads/);
  await assert.rejects(attention(q, k3, k3, { mask: createBlockMask(causal(), { B: 1, H: 1, Nq: 5, Nk: 5 }) }), /BlockMask was built for Nq=5/);
});

test('attention: flash at N = 8192, D = 64, one head holds < 5% of an N x N float32 buffer', async () => {
  const N = 8192;
  const D = 64;
  const r = rng(3);
  const q = tensor(randn(r, N * D), [1, 1, N, D]);
  const k = tensor(randn(r, N * D), [1, 1, N, D]);
  const v = tensor(randn(r, N * D), [1, 1, N, D]);
  const before = dev.stats.bytes;
  dev.resetPeak();
  const { out, lse } = await attention(q, k, v, { mask: slidingWindow(512) });
  const peak = dev.stats.peakBytes - before;
  const budget = 0.05 * N * N * 4;
  console.log(`flash N=8192 D=64: peak ${(peak / 2 ** 20).toFixed(2)} MiB of ${(budget / 2 ** 20).toFixed(2)} MiB budget`);
  assert.ok(peak <= budget, `peak ${peak} > ${budget}`);
  assert.equal(out.shape[2], N);
  assert.ok((await lse.data()).every(Number.isFinite));
});
