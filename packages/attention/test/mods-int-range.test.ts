/**
 * Mod integers are i32 in the WebGPU kernels and exact in the CPU's JavaScript (issue 13, silent
 * wrong results): an integer expression that can leave int32, an integer `%` whose divisor can be
 * 0, and a captured float table read out of range made WebGPU return other numbers than the CPU
 * without a word. Now the first two are refused on both devices naming the expression, and an
 * out-of-range read gives NaN on WebGPU (the CPU throws) instead of a clamped neighbour.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { attention, documentMask, maskMod, scoreMod, ModError, type AttentionOptions } from '../src/index.js';
import { checkModRanges } from '../src/mods/int-range.js';
import { rng, randn } from './util.js';

async function devices(): Promise<Device[]> {
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [cpuDevice(), gpu];
}

function inputs(dev: Device, N: number, D = 4): [Tensor, Tensor, Tensor] {
  const r = rng(N * 7 + D);
  const mk = (): Tensor => tensor(randn(r, N * D), [1, 1, N, D], { device: dev });
  return [mk(), mk(), mk()];
}

/** Float64 softmax attention with a score function, for the cases that must run. */
function ref(dev: Device, N: number, mod: (s: number, q: number, k: number) => number, D = 4): Float64Array {
  const r = rng(N * 7 + D);
  const [q, k, v] = [randn(r, N * D), randn(r, N * D), randn(r, N * D)];
  void dev;
  const out = new Float64Array(N * D);
  for (let i = 0; i < N; i++) {
    const s: number[] = [];
    for (let j = 0; j < N; j++) {
      let x = 0;
      for (let c = 0; c < D; c++) x += q[i * D + c]! * k[j * D + c]!;
      s.push(mod(x / Math.sqrt(D), i, j));
    }
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, b) => a + b, 0);
    for (let j = 0; j < N; j++) for (let c = 0; c < D; c++) out[i * D + c] += (e[j]! / z) * v[j * D + c]!;
  }
  return out;
}

async function expectRefused(opts: AttentionOptions, N: number, re: RegExp, what: string): Promise<void> {
  for (const dev of await devices()) {
    await assert.rejects(attention(...inputs(dev, N), opts), (e: unknown) => e instanceof ModError && re.test(e.message), `${dev.kind}: ${what}`);
  }
}

async function expectRef(opts: AttentionOptions, N: number, mod: (s: number, q: number, k: number) => number, what: string): Promise<void> {
  for (const dev of await devices()) {
    const got = await (await attention(...inputs(dev, N), opts)).out.data();
    const want = ref(dev, N, mod);
    let e = 0;
    for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i]! - want[i]!));
    assert.ok(e <= 1e-5, `${dev.kind}: ${what} err ${e}`);
  }
}

test('mods: integer expressions that can leave int32 are refused on both devices (WebGPU wrapped them silently)', async () => {
  // Before: WebGPU max |diff| 0.63 against the CPU on this mod at N = 10.
  const wraps = scoreMod((s, b, h, q, k) => s + q * k * k * k * k * k * k * k * k * k * 1e-9, { name: 'k^9' });
  await expectRefused({ scoreMod: wraps }, 10, /scoreMod 'k\^9': the integer expression \(+q \* k\).* can reach \[0, \d+\] at B = 1, H = 1, Nq = 10, Nk = 10, beyond int32/, 'k^9');
  await expectRefused({ mask: maskMod((b, h, q, k) => q * 100000000 * k >= 0, { name: 'big product' }) }, 40, /mask 'big product': the integer expression \(q \* 100000000\) can reach \[0, 3900000000\]/, 'mask');
  // The same expression in floats runs and is exact on both.
  const floats = scoreMod((s, b, h, q, k) => s + q * 1.0 * k * k * k * k * k * k * k * k * k * 1e-9, { name: 'k^9 in floats' });
  await expectRef({ scoreMod: floats }, 10, (s, q, k) => s + q * k ** 9 * 1e-9, 'floats');
  // The bound follows the shapes: (q - k)^2 fits int32 at N = 40000 (1.6e9), not at N = 50000.
  const sq = maskMod((b, h, q, k) => (q - k) * (q - k) <= 16, { name: 'square distance' });
  checkModRanges(sq, null, { B: 1, H: 1, Nq: 40000, Nk: 40000 });
  assert.throws(() => checkModRanges(sq, null, { B: 1, H: 1, Nq: 50000, Nk: 50000 }), /\(\(q - k\) \* \(q - k\)\) can reach \[-2499900001, 2499900001\]/);
  // Packed documents: positions are bounded by the longest document, not by N.
  const cu = Array.from({ length: 26 }, (_, i) => i * 2000);
  checkModRanges(documentMask(sq, cu), null, { B: 1, H: 1, Nq: 50000, Nk: 50000 });
  assert.throws(() => checkModRanges(documentMask(sq, [0, 49000, 50000]), null, { B: 1, H: 1, Nq: 50000, Nk: 50000 }), /can reach \[-2400902001, 2400902001\]/);
});

test('mods: an integer % whose divisor can be 0 is refused on both devices (JavaScript NaN, WGSL a number)', async () => {
  // Before: mask max |diff| 0.26, scoreMod 0.14 between CPU and WebGPU at N = 10.
  await expectRefused({ mask: maskMod((b, h, q, k) => q % k !== 0 || k > 3, { name: 'q mod k' }) }, 10, /mask 'q mod k': the divisor of \(q % k\) can be 0 \(it ranges over \[0, 9\].*Math\.max\(k, 1\)/, 'mask');
  await expectRefused({ scoreMod: scoreMod((s, b, h, q, k) => s + (q % k === 0 ? 1 : 0), { name: 'q mod k' }) }, 10, /scoreMod 'q mod k': the divisor of \(q % k\) can be 0/, 'scoreMod');
  await expectRef({ scoreMod: scoreMod((s, b, h, q, k) => s + (q % Math.max(k, 1) === 0 ? 1 : 0)) }, 10, (s, q, k) => s + (q % Math.max(k, 1) === 0 ? 1 : 0), 'nonzero divisor');
});

test('mods: a captured float table read out of range is NaN on WebGPU (was a clamped neighbour) and an error on the CPU', async () => {
  const N = 10;
  const c = Float32Array.from({ length: N }, (_, i) => 0.1 * i);
  const oob = scoreMod((s, b, h, q, k) => s + c[q + k]!, { captures: { c }, name: 'table' });
  const [cpu, gpu] = await devices();
  await assert.rejects(attention(...inputs(cpu!, N), { scoreMod: oob }), /index 10 out of range for captured 'c' \(dim 10\)/);
  const out = await (await attention(...inputs(gpu!, N), { scoreMod: oob })).out.data();
  // Row 0 reads c[0..9] only; every later row reads past the end.
  for (let i = 0; i < N; i++) {
    const row = Array.from(out.subarray(i * 4, i * 4 + 4));
    assert.ok(i === 0 ? row.every(Number.isFinite) : row.every(Number.isNaN), `webgpu row ${i}: ${row}`);
  }
  // Guarded reads: only the branch taken counts, as in JavaScript.
  const guarded = scoreMod((s, b, h, q, k) => s + (q + k < 10 ? c[q + k]! : 0), { captures: { c }, name: 'guarded table' });
  await expectRef({ scoreMod: guarded }, N, (s, q, k) => s + (q + k < 10 ? c[q + k]! : 0), 'guarded');
});

test('mods: a captured int table read out of range in a score mod is NaN on WebGPU (was a clamped neighbour) and an error on the CPU', async () => {
  const N = 10;
  // T5-style buckets (int) indexing a float bias table: an out-of-range bucket read picked a wrong bucket.
  const bucket = Int32Array.from({ length: N }, (_, i) => i % 3);
  const bias = Float32Array.of(0.5, -0.25, 1);
  const oob = scoreMod((s, b, h, q, k) => s + bias[bucket[q + k]!]!, { captures: { bucket, bias }, name: 'buckets' });
  const [cpu, gpu] = await devices();
  await assert.rejects(attention(...inputs(cpu!, N), { scoreMod: oob }), /index 10 out of range for captured 'bucket' \(dim 10\)/);
  const out = await (await attention(...inputs(gpu!, N), { scoreMod: oob })).out.data();
  for (let i = 0; i < N; i++) {
    const row = Array.from(out.subarray(i * 4, i * 4 + 4));
    assert.ok(i === 0 ? row.every(Number.isFinite) : row.every(Number.isNaN), `webgpu row ${i}: ${row}`);
  }
  // Reads JavaScript never makes (the other branch of ?:, the right of a false &&) do not count.
  const guarded = scoreMod((s, b, h, q, k) => s + (q + k < 10 ? bias[bucket[q + k]!]! : 0) + (q + k < 10 && bucket[q + k]! === 2 ? 1 : 0), { captures: { bucket, bias }, name: 'guarded buckets' });
  await expectRef({ scoreMod: guarded }, N, (s, q, k) => s + (q + k < 10 ? bias[bucket[q + k]!]! : 0) + (q + k < 10 && bucket[q + k]! === 2 ? 1 : 0), 'guarded');
});
