/**
 * Values and upstream gradients near the float32 maximum (3e38, mixed signs): every output whose
 * float64 answer is finite in float32 must match it (the output is a weighted mean of v, so the
 * kernels must not form the unnormalised sum_j p_j v_j, which overflows); an answer beyond float32
 * must come back non-finite, never as a wrong finite number. CPU, WebGPU rowwise and tiled kernels,
 * and the tiled kernel's split-K decode (Nq = 1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getDevice, tensor, sum, mul, type Device, type Tensor } from '@attnlab/tensor';
import { attention, causal, reference as R, type AttentionOptions, type MaskMod } from '../src/index.js';
import { rng, randn } from './util.js';

const F32_MAX = 3.4028234663852886e38;

interface Shape { B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number; Dv: number }

/** Uniform in [-scale, scale]. */
function uniform(r: () => number, n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * (2 * r() - 1);
  return a;
}

/** Largest error relative to the tensor's largest f32-finite reference entry; -1 for a wrong special value. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let top = Number.MIN_VALUE;
  for (let i = 0; i < want.length; i++) if (Math.abs(want[i]!) <= F32_MAX) top = Math.max(top, Math.abs(want[i]!));
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const x = got[i]!;
    const y = want[i]!;
    if (!(Math.abs(y) <= F32_MAX)) {
      // Beyond float32 (or NaN): anything but a finite number is honest.
      if (Number.isFinite(x)) return -1;
      continue;
    }
    const d = Math.abs(x - y) / top;
    if (!(d <= m)) m = d;
  }
  return m;
}

interface Case {
  name: string; s: Shape; seed: number; vScale: number; dOScale: number;
  /** Zero queries: uniform weights, out = mean of v. */ uniformWeights?: boolean; opts?: AttentionOptions;
  /** A mask given to both the kernel and the float64 reference. */ mask?: MaskMod;
}

/** Checks one case; failures are collected (every case runs) and reported together. */
async function check(dev: Device, c: Case, kernel: 'rowwise' | 'tiled', fails: string[]): Promise<void> {
  const r = rng(c.seed);
  const { B, Hq, Hkv, Nq, Nk, D, Dv } = c.s;
  const qa = c.uniformWeights ? new Float32Array(B * Hq * Nq * D) : randn(r, B * Hq * Nq * D, 0.5);
  const ka = randn(r, B * Hkv * Nk * D, 0.5);
  const va = c.vScale !== 1 ? uniform(r, B * Hkv * Nk * Dv, c.vScale) : randn(r, B * Hkv * Nk * Dv);
  if (c.vScale !== 1) va[0] = c.vScale; // one key of head 0 exactly at the scale
  const dOa = c.dOScale !== 1 ? uniform(r, B * Hq * Nq * Dv, c.dOScale) : randn(r, B * Hq * Nq * Dv);
  const q = tensor(qa, [B, Hq, Nq, D], { device: dev, requiresGrad: true });
  const k = tensor(ka, [B, Hkv, Nk, D], { device: dev, requiresGrad: true });
  const v = tensor(va, [B, Hkv, Nk, Dv], { device: dev, requiresGrad: true });
  const res = await attention(q, k, v, { ...c.opts, ...(c.mask ? { mask: c.mask } : {}), kernel });
  const refOpts = { normalize: c.opts?.normalize, mask: c.mask ?? null };
  const ref = R.attentionRef(qa, ka, va, c.s, refOpts);
  const label = `${c.name} on ${dev.kind}${dev.kind === 'webgpu' ? ` (${kernel})` : ''}`;
  const eOut = relErr(await res.out.data(), ref.out);
  if (!(eOut >= 0 && eOut <= 1e-5)) fails.push(`out: relative error ${eOut}, ${label}`);
  sum(mul(res.out, tensor(dOa, res.out.shape, { device: dev }))).backward();
  const g = R.attentionRefBackward(qa, ka, va, dOa, null, c.s, refOpts);
  for (const [name, x, want] of [['dq', q, g.dq], ['dk', k, g.dk], ['dv', v, g.dv]] as const) {
    const e = relErr(await (x.grad as Tensor).data(), want);
    if (!(e >= 0 && e <= 1e-4)) fails.push(`${name}: relative error ${e}, ${label}`);
  }
}

const FAILS = 'relative error -1: a finite value where the float64 answer overflows float32';

const SHAPE: Shape = { B: 1, Hq: 2, Hkv: 1, Nq: 5, Nk: 7, D: 4, Dv: 3 };
const CASES: Case[] = [
  { name: 'v = 3e38 scale, uniform weights', s: SHAPE, seed: 1, vScale: 3e38, dOScale: 1, uniformWeights: true },
  { name: 'v = 3e38 scale, random weights', s: SHAPE, seed: 2, vScale: 3e38, dOScale: 1 },
  { name: 'v = 3e38 scale, more keys than one tile', s: { ...SHAPE, Nq: 3, Nk: 150 }, seed: 3, vScale: 3e38, dOScale: 1, uniformWeights: true },
  { name: 'v = 3e38 scale, sigmoid', s: SHAPE, seed: 4, vScale: 3e37, dOScale: 1, opts: { normalize: 'sigmoid' } },
  { name: 'dOut = 3e38 scale', s: SHAPE, seed: 5, vScale: 1, dOScale: 3e38 },
  { name: 'dOut = 1e37 scale, uniform weights', s: SHAPE, seed: 6, vScale: 1, dOScale: 1e37, uniformWeights: true },
  // Tiny dOut: the backward's row scaling must not push dO . v into float32 underflow.
  { name: 'dOut = 1e-30 scale', s: { ...SHAPE, D: 64, Dv: 64 }, seed: 12, vScale: 1, dOScale: 1e-30 },
  // D = Dv = 16: the CPU device's WebAssembly SIMD kernels (float32) instead of its float64 JS path.
  { name: 'v = 3e38 scale, D = 16', s: { ...SHAPE, Nq: 6, Nk: 9, D: 16, Dv: 16 }, seed: 9, vScale: 3e38, dOScale: 1 },
  { name: 'v = 3e38 scale, D = 16, uniform weights', s: { ...SHAPE, Nq: 6, Nk: 9, D: 16, Dv: 16 }, seed: 10, vScale: 3e38, dOScale: 1, uniformWeights: true },
  { name: 'dOut = 3e38 scale, D = 16', s: { ...SHAPE, Nq: 6, Nk: 9, D: 16, Dv: 16 }, seed: 11, vScale: 1, dOScale: 3e38 },
  // Nq = 1 with Nk = 300: the tiled kernel takes its split-K (flash decoding) path.
  { name: 'decode, v = 3e38 scale', s: { ...SHAPE, Nq: 1, Nk: 300 }, seed: 7, vScale: 3e38, dOScale: 1, uniformWeights: true },
  { name: 'decode, v = 3e38 scale, random weights', s: { ...SHAPE, Nq: 1, Nk: 300 }, seed: 8, vScale: 3e38, dOScale: 1 },
];

// D % 16 == 0 with finite dOut: the CPU device's WebAssembly backward (float32), which must scale dO
// so dp = dO . v does not overflow; causal (partial named-mask tiles), sigmoid (the per-element JS tile
// path), GQA and more query rows than one tile on top of the shared D = 16 cases.
const D16: Shape = { ...SHAPE, Nq: 6, Nk: 9, D: 16, Dv: 16 };
const CPU_WASM_CASES: Case[] = [
  { name: 'dOut = 3e38 scale, D = 16, uniform weights', s: D16, seed: 21, vScale: 1, dOScale: 3e38, uniformWeights: true },
  { name: 'dOut = 3e38 scale, D = 16, causal', s: D16, seed: 22, vScale: 1, dOScale: 3e38, mask: causal() },
  { name: 'dOut = 3e38 scale, D = 16, sigmoid', s: D16, seed: 23, vScale: 1, dOScale: 3e38, opts: { normalize: 'sigmoid' } },
  { name: 'dOut = 3e38 scale, D = 32, GQA, 70 query rows', s: { B: 2, Hq: 4, Hkv: 2, Nq: 70, Nk: 67, D: 32, Dv: 32 }, seed: 24, vScale: 1, dOScale: 3e38 },
  { name: 'dOut = 1e37 and v = 1e20 scale, D = 16', s: D16, seed: 25, vScale: 1e20, dOScale: 1e37 },
];

test('attention with v or dOut near the float32 maximum: CPU matches float64', async () => {
  const dev = await getDevice({ prefer: 'cpu' });
  const fails: string[] = [];
  for (const c of [...CASES, ...CPU_WASM_CASES]) await check(dev, c, 'rowwise', fails);
  assert.deepEqual(fails, [], FAILS);
});

test('attention with v near the float32 maximum: WebGPU rowwise and tiled (with split-K decode) match float64', async () => {
  // WebGPU must be there (SwiftShader in CI): a missing adapter fails the test, never skips it.
  const dev = await getDevice({ prefer: 'webgpu' });
  assert.equal(dev.kind, 'webgpu', 'no WebGPU adapter');
  const fails: string[] = [];
  for (const kernel of ['rowwise', 'tiled'] as const) for (const c of CASES) await check(dev, c, kernel, fails);
  assert.deepEqual(fails, [], FAILS);
});
