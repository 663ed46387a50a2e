/**
 * attention(..., { storage: 'f16' }): q, k, v rounded to float16 (nearest even) and, on WebGPU,
 * read as packed halves by the rowwise, tiled and split-K kernels with f32 arithmetic. Checked
 * against a float64 reference on the f16-rounded inputs (the kernels' own error: f32
 * accumulation) and on the unrounded inputs (F1's fp16 bound, 2e-3), forward, lse and
 * gradients, on WebGPU (SwiftShader) and the CPU device; values beyond ±65504 are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getDevice, tensor, sum, mul, add, type Device, type Tensor } from '@attnlab/tensor';
import { attention, causal, slidingWindow, sinks, or, scoreMod, reference as R, type AttentionOptions, type MaskMod } from '../src/index.js';
import { f16Bits, f16Value, roundF16, toF16Checked, F16_MAX } from '../src/f16.js';
import { packQkvF16 } from '../src/gpu/f16-pack.js';
import { gpuBackend } from '../src/gpu/bridge.js';
import { planFlash } from '../src/flash-plan.js';
import { flashForwardSource } from '../src/wgsl/flash.js';
import { flashTiledForwardSource } from '../src/wgsl/flash-tiled.js';
import { rng, randn, randomQkv, diffSpecials as diff } from './util.js';

async function webgpu(): Promise<Device> {
  // WebGPU must be there (SwiftShader in CI): a missing adapter fails the test, never skips it.
  const dev = await getDevice({ prefer: 'webgpu' });
  assert.equal(dev.kind, 'webgpu', 'no WebGPU adapter');
  return dev;
}

/** Every positive finite float16 value, ascending, by bit pattern (0 .. 0x7bff). */
const HALVES = Array.from({ length: 0x7c00 }, (_, h) => f16Value(h));

/** Independent nearest-even float16 of x: binary search over all float16 values, float64 distances. */
function nearestHalf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  const s = x < 0 || Object.is(x, -0) ? -1 : 1;
  // Past the largest finite half by half an ulp (2^4 / 2) or more: Infinity.
  if (a >= F16_MAX + 16) return s * Infinity;
  let lo = 0;
  let hi = HALVES.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (HALVES[mid]! <= a) lo = mid;
    else hi = mid;
  }
  if (a >= HALVES[hi]!) lo = hi;
  const dl = a - HALVES[lo]!;
  const dh = lo + 1 < HALVES.length ? HALVES[lo + 1]! - a : Infinity;
  const pick = dl < dh ? lo : dh < dl ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
  return s * HALVES[pick]!;
}

/** Float32 values spread over float16's whole range: normals, subnormals, exact ties, signed zeros. */
function wideValues(r: () => number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    const sign = r() < 0.5 ? -1 : 1;
    if (kind === 0) a[i] = sign * 2 ** (-26 + r() * 42); // 2^-26 .. 2^16 (past 65504 filtered below)
    else if (kind === 1) a[i] = sign * (Math.floor(r() * 2048) + 0.5) * 2 ** -24; // ties between subnormals / small normals
    else if (kind === 2) a[i] = sign * (1 + (Math.floor(r() * 1024) + 0.5) / 1024) * 2 ** Math.floor(r() * 30 - 14); // ties between normals
    else a[i] = sign * r() * 3;
    if (Math.abs(a[i]!) > F16_MAX) a[i] = sign * F16_MAX;
  }
  a[0] = -0;
  a[1] = 0;
  a[2] = F16_MAX;
  a[3] = -65519.99; // rounds to -65504
  a[4] = 2 ** -25; // tie between 0 and the smallest subnormal: to 0
  a[5] = 3 * 2 ** -25; // tie between 1 and 2 subnormal units: to 2
  return a;
}

test('float16 rounding: nearest even against a search over every float16, exact round trip of every float16', () => {
  const r = rng(1);
  const xs = wideValues(r, 20000);
  for (const x of xs) assert.ok(Object.is(roundF16(x), nearestHalf(x)), `round(${x}) = ${roundF16(x)}, nearest ${nearestHalf(x)}`);
  // The CPU device's array rounding, the scalar one and the bit encoder (the WGSL pack kernel's twin) agree.
  const inRange = Float32Array.from([...xs.filter((x) => Math.abs(x) <= F16_MAX), NaN, Infinity, -Infinity]);
  const arr = toF16Checked('q', tensor(inRange, [inRange.length]), inRange);
  inRange.forEach((x, i) => assert.ok(Object.is(arr[i], roundF16(x)) && Object.is(arr[i], f16Value(f16Bits(x))), `array rounding of ${x}: ${arr[i]}`));
  for (let h = 0; h < 0x10000; h++) {
    const v = f16Value(h);
    if (Number.isNaN(v)) {
      assert.ok(Number.isNaN(f16Value(f16Bits(v))));
      continue;
    }
    assert.equal(f16Bits(v), h, `bits ${h.toString(16)}`);
  }
  assert.equal(roundF16(Infinity), Infinity);
  assert.ok(Number.isNaN(roundF16(NaN)));
  assert.equal(roundF16(65520), Infinity); // the tie past 65504 goes to Infinity: attention refuses it
});

test("WebGPU f16 pack kernel: bit-identical to the host's nearest-even rounding, odd rows padded with a zero half", async () => {
  const dev = await webgpu();
  const be = gpuBackend(dev, 'test');
  const r = rng(2);
  for (const [rows, W] of [[7, 5], [3, 64], [1, 1], [9, 33]] as const) {
    // In range only (values past ±65504 are refused, tested below).
    const arrs = [0, 1, 2].map(() => wideValues(r, rows * W).map((x) => (Math.abs(x) > F16_MAX ? Math.sign(x) * F16_MAX : x)));
    arrs[2]![W - 1] = NaN;
    if (rows * W > 7) arrs[2]![7] = -Infinity;
    const ts = arrs.map((a) => tensor(a, [1, 1, rows, W], { device: dev }));
    const p = await packQkvF16(be, ts[0]!, ts[1]!, ts[2]!, (m) => new Error(m));
    await p.checked;
    const WW = (W + 1) >> 1;
    for (let i = 0; i < 3; i++) {
      const d = await p.tensors[i]!.data();
      const got = new Uint32Array(d.buffer, d.byteOffset, d.length);
      assert.equal(got.length, rows * WW);
      for (let row = 0; row < rows; row++) {
        for (let w = 0; w < WW; w++) {
          const a = arrs[i]!;
          const lo = f16Bits(a[row * W + 2 * w]!);
          const hi = 2 * w + 1 < W ? f16Bits(a[row * W + 2 * w + 1]!) : 0;
          const want = (lo | (hi << 16)) >>> 0;
          const g = got[row * WW + w]!;
          // NaN payloads may differ; both halves must still be NaN.
          const isNaNHalf = (x: number): boolean => (x & 0x7c00) === 0x7c00 && (x & 0x3ff) !== 0;
          const same = (x: number, y: number): boolean => x === y || (isNaNHalf(x) && isNaNHalf(y));
          assert.ok(same(g & 0xffff, lo) && same(g >>> 16, hi), `tensor ${i} row ${row} word ${w}: ${g.toString(16)} want ${want.toString(16)}`);
        }
      }
    }
    for (const t of [...ts, ...p.tensors]) t.dispose();
  }
});

test('f16 storage kernels declare packed u32 q/k/v (native variant: vec2<f16> after `enable f16;`) and keep f32 arithmetic', () => {
  const opts = { mask: null, scoreMod: null, normalize: 'softmax' as const, scale: 1, sigmoidBias: 0 };
  const plan = planFlash({ B: 1, Hq: 2, Hkv: 1, Nq: 9, Nk: 9, D: 5 }, { ...opts, storage: 'f16' });
  for (const code of [flashForwardSource(plan.fwd).code, flashTiledForwardSource(plan.fwd).code, flashTiledForwardSource(plan.fwd, undefined, true).code]) {
    assert.match(code, /var<storage, read> Kb: array<u32>/);
    assert.match(code, /unpack2x16float/);
    assert.doesNotMatch(code, /enable f16|vec2<f16>/);
  }
  const native = planFlash({ B: 1, Hq: 2, Hkv: 1, Nq: 9, Nk: 9, D: 5 }, { ...opts, storage: 'f16-native' });
  for (const code of [flashForwardSource(native.fwd).code, flashTiledForwardSource(native.fwd, undefined, true).code]) {
    assert.match(code, /var<storage, read> Kb: array<vec2<f16>>/);
    assert.doesNotMatch(code, /unpack2x16float/);
    // Directives come before every declaration.
    assert.ok(code.indexOf('enable f16;') >= 0 && code.indexOf('enable f16;') < code.indexOf('struct Params'), 'enable f16 first');
  }
});

interface Case { B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number; Dv?: number; mask?: MaskMod | null; opts?: AttentionOptions; grads?: boolean; edit?: (q: Float32Array) => void }

/** Worst errors of one case, for the bounds and for the report. */
interface Errs { outR: number; lseR: number; gradR: number; outU: number; lseU: number; gradU: number }

async function check(dev: Device, c: Case, seed: number, kernel: 'rowwise' | 'tiled', storage: 'f16' | 'f16-native' = 'f16'): Promise<Errs> {
  const r = rng(seed);
  const { B, Hq, Hkv, Nq, Nk, D } = c;
  const Dv = c.Dv ?? D;
  const grads = c.grads ?? true;
  const { qa, ka, va, q, k, v } = randomQkv(r, c, dev, { requiresGrad: grads, edit: c.edit });
  const res = await attention(q, k, v, { ...c.opts, mask: c.mask ?? null, kernel, storage });
  const dims = { B, Hq, Hkv, Nq, Nk, D, Dv };
  const refOpts = { mask: c.mask ?? null, scoreMod: (c.opts?.scoreMod as never) ?? null, normalize: c.opts?.normalize };
  const rd = (a: Float32Array): Float32Array => a.map(roundF16);
  const [qr, kr, vr] = [rd(qa), rd(ka), rd(va)];
  const refR = R.attentionRef(qr, kr, vr, dims, refOpts);
  const refU = R.attentionRef(qa, ka, va, dims, refOpts);
  const out = await res.out.data();
  const lse = await res.lse.data();
  const e: Errs = { outR: diff(out, refR.out), lseR: diff(lse, refR.lse, true), gradR: 0, outU: diff(out, refU.out), lseU: diff(lse, refU.lse, true), gradU: 0 };
  if (grads) {
    const gOut = randn(r, refR.out.length);
    const gLse = refR.lse.some((x) => !Number.isFinite(x)) ? null : randn(r, refR.lse.length);
    const t = (a: Float32Array, s: readonly number[]): Tensor => tensor(a, s, { device: dev });
    const loss = gLse ? add(sum(mul(res.out, t(gOut, res.out.shape))), sum(mul(res.lse, t(gLse, res.lse.shape)))) : sum(mul(res.out, t(gOut, res.out.shape)));
    loss.backward();
    const gR = R.attentionRefBackward(qr, kr, vr, gOut, gLse, dims, refOpts);
    const gU = R.attentionRefBackward(qa, ka, va, gOut, gLse, dims, refOpts);
    for (const [x, wr, wu] of [[q, gR.dq, gU.dq], [k, gR.dk, gU.dk], [v, gR.dv, gU.dv]] as const) {
      const got = await (x.grad as Tensor).data();
      e.gradR = Math.max(e.gradR, diff(got, wr));
      e.gradU = Math.max(e.gradU, diff(got, wu));
    }
  }
  const label = `${dev.kind}/${kernel}/${storage} ${JSON.stringify({ ...dims, mask: c.mask?.name, n: c.opts?.normalize })} ${JSON.stringify(e)}`;
  // Rounded inputs: only f32 accumulation differs from float64 (the f32 kernels' own error).
  assert.ok(e.outR <= 1e-5 && e.lseR <= 1e-5, `vs float64 on f16-rounded inputs: ${label}`);
  assert.ok(e.gradR <= 5e-5, `gradients vs float64 on f16-rounded inputs: ${label}`);
  // Unrounded inputs: F1's fp16 bound.
  assert.ok(e.outU <= 2e-3 && e.lseU <= 2e-3, `vs float64 on the float32 inputs (F1's fp16 bound 2e-3): ${label}`);
  return e;
}

const slopes = new Float32Array([0.5, 0.25, 0.125, 0.0625]);
const GRID: Case[] = [
  { B: 1, Hq: 2, Hkv: 2, Nq: 1, Nk: 1, D: 32 },
  { B: 2, Hq: 4, Hkv: 2, Nq: 7, Nk: 7, D: 32, mask: causal() },
  { B: 1, Hq: 4, Hkv: 1, Nq: 65, Nk: 127, D: 64, mask: or(sinks(2), slidingWindow(24)) },
  { B: 1, Hq: 4, Hkv: 2, Nq: 33, Nk: 33, D: 128, mask: causal(), opts: { scoreMod: scoreMod((s, b, h, q, k) => s - slopes[h]! * (q - k), { captures: { slopes } }) } },
  { B: 1, Hq: 2, Hkv: 2, Nq: 20, Nk: 20, D: 33, mask: causal(), opts: { normalize: 'sigmoid' } },
  { B: 1, Hq: 3, Hkv: 3, Nq: 45, Nk: 71, D: 5 },
  { B: 1, Hq: 2, Hkv: 1, Nq: 17, Nk: 9, D: 3, Dv: 7, opts: { scoreMod: scoreMod((s) => 30 * Math.tanh(s / 30)) } },
  // Decode (Nq = 1): split-K partials on the tiled path.
  { B: 1, Hq: 4, Hkv: 2, Nq: 1, Nk: 600, D: 64, Dv: 33 },
  { B: 1, Hq: 2, Hkv: 1, Nq: 1, Nk: 300, D: 128, mask: slidingWindow(100) },
];

test("storage 'f16' on WebGPU, rowwise and tiled kernels (incl. split-K decode): forward, lse, gradients vs float64 on rounded and unrounded inputs", async () => {
  const dev = await webgpu();
  const worst: Record<string, number> = {};
  for (const kernel of ['rowwise', 'tiled'] as const) {
    for (const [i, c] of GRID.entries()) {
      const e = await check(dev, c, 100 + i, kernel);
      for (const [k, x] of Object.entries(e)) worst[`${kernel}.${k}`] = Math.max(worst[`${kernel}.${k}`] ?? 0, x);
    }
  }
  console.log('f16 storage worst errors (WebGPU):', JSON.stringify(worst));
});

test("storage 'f16' on the CPU device: the same rounding, so it matches float64 on the rounded inputs and agrees with WebGPU", async () => {
  const cpu = await getDevice({ prefer: 'cpu' });
  assert.equal(cpu.kind, 'cpu');
  for (const [i, c] of GRID.entries()) await check(cpu, c, 200 + i, 'rowwise');
  const gpu = await webgpu();
  const r = rng(9);
  const [qa, ka, va] = [randn(r, 2 * 40 * 64), randn(r, 40 * 64), randn(r, 40 * 64)];
  const run = async (dev: Device, kernel: 'rowwise' | 'tiled'): Promise<Float32Array> => {
    const res = await attention(tensor(qa, [1, 2, 40, 64], { device: dev }), tensor(ka, [1, 1, 40, 64], { device: dev }), tensor(va, [1, 1, 40, 64], { device: dev }), { mask: causal(), storage: 'f16', kernel });
    return res.out.data() as Promise<Float32Array>;
  };
  const c = await run(cpu, 'rowwise');
  for (const kernel of ['rowwise', 'tiled'] as const) assert.ok(diff(await run(gpu, kernel), c) <= 1e-5, `CPU vs WebGPU ${kernel}`);
});

test("storage 'f16': a NaN input propagates as with f32 storage (its row NaN, the other rows exact)", async () => {
  const dev = await webgpu();
  for (const kernel of ['rowwise', 'tiled'] as const) {
    await check(dev, { B: 1, Hq: 1, Hkv: 1, Nq: 6, Nk: 6, D: 8, edit: (q) => { q[3 * 8 + 1] = NaN; }, grads: false }, 300, kernel);
  }
});

test("storage 'f16': a finite value beyond ±65504 is refused naming the tensor and element, on both devices; 65504 itself is fine", async () => {
  for (const dev of [await getDevice({ prefer: 'cpu' }), await webgpu()]) {
    for (const kernel of ['rowwise', 'tiled'] as const) {
      const mk = (edit?: (a: Float32Array) => void): Tensor => {
        const a = randn(rng(4), 2 * 5 * 6);
        edit?.(a);
        return tensor(a, [1, 2, 5, 6], { device: dev });
      };
      await assert.rejects(attention(mk(), mk((a) => { a[(1 * 5 + 2) * 6 + 3] = 70000; }), mk(), { storage: 'f16', kernel }), /storage 'f16': k\[0, 1, 2, 3\] = 70000 is beyond float16's range/);
      await assert.rejects(attention(mk(), mk(), mk((a) => { a[4] = -65505; a[9] = 1e30; }), { storage: 'f16', kernel }), /v\[0, 0, 0, 4\] = -65505/);
      await assert.rejects(attention(mk((a) => { a[59] = 3e38; }), mk(), mk(), { storage: 'f16', kernel }), /q\[0, 1, 4, 5\]/);
      const ok = await attention(mk(), mk(), mk((a) => { a[0] = F16_MAX; a[1] = -F16_MAX; }), { storage: 'f16', kernel });
      const out = await ok.out.data();
      assert.ok(out.every((x) => Number.isFinite(x)), `${dev.kind} ${kernel}: ±65504 must stay finite`);
    }
  }
});

test("storage option: a value other than 'f32' / 'f16' and f16 with impl 'naive' are errors naming the problem", async () => {
  const q = tensor(new Float32Array(8), [1, 1, 2, 4]);
  await assert.rejects(attention(q, q, q, { storage: 'bf16' as never }), /storage must be 'f32', 'f16' or 'f16-native', got 'bf16'/);
  await assert.rejects(attention(q, q, q, { storage: 'f16', impl: 'naive' }), /storage 'f16' needs impl 'flash'/);
  await assert.rejects(attention(q, q, q, { storag: 'f16' } as never), /did you mean 'storage'/);
});

test("storage 'f16-native': on an adapter with shader-f16 the grid as 'f16' (both kernels); without it (SwiftShader, CPU) a clear refusal", async () => {
  const dev = await webgpu();
  const gpu = (dev.backend as unknown as { gpu: GPUDevice }).gpu;
  if (gpu.features.has('shader-f16')) {
    for (const kernel of ['rowwise', 'tiled'] as const) for (const [i, c] of GRID.entries()) await check(dev, c, 400 + i, kernel, 'f16-native');
  } else {
    const q = tensor(new Float32Array(8), [1, 1, 2, 4], { device: dev });
    await assert.rejects(attention(q, q, q, { storage: 'f16-native' }), /storage 'f16-native' needs a WebGPU device with the 'shader-f16' feature \(this webgpu device has none\)/);
  }
  const c = tensor(new Float32Array(8), [1, 1, 2, 4]);
  await assert.rejects(attention(c, c, c, { storage: 'f16-native' }), /this cpu device has none/);
});

test("storage 'f16' with returnProbs: probabilities of the rounded q, k on both devices (float64 reference)", async () => {
  const r = rng(11);
  const dims = { B: 1, Hq: 2, Hkv: 1, Nq: 13, Nk: 13, D: 33, Dv: 33 };
  const [qa, ka, va] = [randn(r, 2 * 13 * 33), randn(r, 13 * 33), randn(r, 13 * 33)];
  const rd = (a: Float32Array): Float32Array => a.map(roundF16);
  for (const dev of [await getDevice({ prefer: 'cpu' }), await webgpu()]) {
    const res = await attention(tensor(qa, [1, 2, 13, 33], { device: dev }), tensor(ka, [1, 1, 13, 33], { device: dev }), tensor(va, [1, 1, 13, 33], { device: dev }), { mask: causal(), storage: 'f16', returnProbs: true });
    const p = await res.probs!.data();
    for (let h = 0; h < 2; h++) {
      const want = R.attentionProbsRef(rd(qa), rd(ka), dims, 0, h, { mask: causal() });
      assert.ok(diff(p.subarray(h * 169, (h + 1) * 169), want) <= 1e-6, `${dev.kind} head ${h}`);
    }
  }
});
