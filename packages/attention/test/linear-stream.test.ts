/**
 * Chunk mode on the CPU's WebAssembly path (cpu/linear-stream.ts: operands streamed chunk by
 * chunk into WebAssembly memory; the backward in one reverse-time pass from the forward's kept
 * states, cpu/linear-backward.ts, or in three passes; SIMD elu1 / elu1' / transposed keys) against the float64 reference, forward and every gradient, on randomized
 * shapes: N = 1, odd N, N not a multiple of the chunk size, D and Dv not multiples of the SIMD
 * widths, every feature map, with and without decay, gate, initial and final state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, tensor, sum, mul, add, type Tensor } from '@attnlab/tensor';
import { linearAttention, reference as R } from '../src/index.js';
import type { FeatureMap } from '../src/reference/linear.js';
import { rng, randn, relErr, maxAbs, maxAbsDiff } from './util.js';
import { keptSizes, statesSize, tilesSize, linearBackwardStream, linearForwardStream, type LinearProblem, type StreamGrads } from '../src/cpu/linear-stream.js';
import { linearKernels } from '../src/cpu/linear-wasm.js';

/**
 * Error relative to the reference's largest magnitude, floored at 1% of the largest gradient of
 * the case: a gradient that is zero in exact arithmetic (dq for one normalised token, o = v; any
 * q with D = 1 under normalisation) is float32 rounding here (~1e-7), not a relative error.
 */
const relErrFloor = (a: ArrayLike<number>, b: ArrayLike<number>, floor: number): number => maxAbsDiff(a, b) / Math.max(maxAbs(b), floor);

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

test('CPU chunk mode (streamed WebAssembly path): forward, final state and gradients match float64 on randomized shapes', async () => {
  const dev = cpuDevice();
  const r = rng(1301);
  for (let c = 0; c < 28; c++) {
    const map = pick(r, ['identity', 'elu1', 'elu1', 'relu', 'taylor2'] as FeatureMap[]);
    const B = pick(r, [1, 2]);
    const H = pick(r, [1, 3]);
    const N = c === 0 ? 1 : pick(r, [1, 2, 7, 31, 63, 64, 65, 130, 201]);
    const D = map === 'taylor2' ? pick(r, [1, 2, 3]) : pick(r, [1, 3, 4, 6, 16, 21, 64]);
    const Dv = pick(r, [1, 5, 16, 17, D]);
    const C = pick(r, [1, 3, 8, 16, 64]);
    const normalize = map === 'elu1' ? r() < 0.7 : map === 'taylor2';
    const decay = r() < 0.4 ? Array.from({ length: H }, () => 0.8 + 0.2 * r()) : 1;
    const withGate = r() < 0.35;
    const withS0 = r() < 0.4;
    const withFin = r() < 0.5;
    const F = R.featureDim(map, D);
    const W = Dv + (normalize ? 1 : 0);
    const qa = randn(r, B * H * N * D);
    const ka = randn(r, B * H * N * D);
    const va = randn(r, B * H * N * Dv);
    const ga = withGate ? Float32Array.from(randn(r, B * H * N), (z) => -Math.log1p(Math.exp(-2 - z))) : null;
    const sa = withS0 ? Float32Array.from(randn(r, B * H * F * W), (x) => Math.abs(x) + 0.1) : null;
    const opt = { device: dev, requiresGrad: true };
    const q = tensor(qa, [B, H, N, D], opt);
    const k = tensor(ka, [B, H, N, D], opt);
    const v = tensor(va, [B, H, N, Dv], opt);
    const g = ga ? tensor(ga, [B, H, N], opt) : null;
    const s0 = sa ? tensor(sa, [B, H, F, W], opt) : null;
    const what = `case ${c}: ${map} B${B} H${H} N${N} D${D} Dv${Dv} C${C} norm ${normalize} decay ${decay !== 1} gate ${withGate} s0 ${withS0} fin ${withFin}`;
    const res = await linearAttention(q, k, v, { featureMap: map, normalize, decay, chunkSize: C, mode: 'chunk', gate: g, initialState: s0, outputFinalState: withFin });
    const refOpts = { featureMap: map, normalize, decay, initialState: sa, gate: ga };
    const ref = R.linearAttentionRef(qa, ka, va, { B, H, N, D, Dv }, refOpts);
    assert.ok(relErr(await res.out.data(), ref.out) < 1e-4, `${what}: out ${relErr(await res.out.data(), ref.out)}`);
    if (withFin) assert.ok(relErr(await res.finalState!.data(), ref.finalState) < 1e-4, `${what}: finalState`);
    const gOut = randn(r, B * H * N * Dv);
    const gFin = withFin ? randn(r, B * H * F * W) : null;
    let loss = sum(mul(res.out, tensor(gOut, res.out.shape, { device: dev })));
    if (gFin) loss = add(loss, sum(mul(res.finalState!, tensor(gFin, res.finalState!.shape, { device: dev }))));
    loss.backward();
    const want = R.linearAttentionRefBackward(qa, ka, va, gOut, gFin, { B, H, N, D, Dv }, refOpts);
    const checks: [string, Tensor, Float64Array][] = [['dq', q, want.dq], ['dk', k, want.dk], ['dv', v, want.dv]];
    if (s0) checks.push(['dS0', s0, want.dInitialState]);
    if (g) checks.push(['dGate', g, want.dGate]);
    const floor = Math.max(1e-3, ...checks.map(([, , w]) => 0.01 * maxAbs(w)));
    for (const [name, t, w] of checks) {
      const e = relErrFloor(await (t.grad as Tensor).data(), w, floor);
      assert.ok(e < 1e-4, `${what}: ${name} ${e}`);
    }
  }
});

test('CPU chunk mode (streamed WebAssembly path): NaN in q or k propagates exactly where it reaches (elu1, normalised)', async () => {
  const dev = cpuDevice();
  const r = rng(1302);
  const [B, H, N, D] = [1, 2, 70, 8];
  const qa = randn(r, B * H * N * D);
  const ka = randn(r, B * H * N * D);
  const va = randn(r, B * H * N * D);
  qa[(0 * N + 5) * D + 3] = NaN; // head 0, row 5: only that output row
  ka[(1 * N + 40) * D + 0] = NaN; // head 1, row 40: every later row of head 1
  const out = (await (await linearAttention(tensor(qa, [B, H, N, D], { device: dev }), tensor(ka, [B, H, N, D], { device: dev }), tensor(va, [B, H, N, D], { device: dev }), { featureMap: 'elu1', normalize: true, chunkSize: 16 })).out.data()) as Float32Array;
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < N; t++) {
      const nan = h === 0 ? t === 5 : t >= 40;
      for (let d = 0; d < D; d++) assert.equal(Number.isNaN(out[(h * N + t) * D + d]!), nan, `head ${h} row ${t} col ${d}`);
    }
  }
});

test('CPU chunk backward: the one-pass form (from the forward\'s kept per-chunk states, with and without its score tiles) and the three-pass form all match float64', async () => {
  const w = linearKernels();
  assert.ok(w, 'WebAssembly SIMD kernels unavailable');
  const r = rng(1303);
  // Fixed edge cases first (N = 1, odd N, N not a multiple of C, one partial chunk, decays at the
  // 2^-100 flush threshold, scale 0), then randomized ones.
  type Case = { map: FeatureMap; B: number; H: number; N: number; D: number; Dv: number; C: number; normalize: boolean; lam: number; gate: 'none' | 'mild' | 'flush'; s0: boolean; fin: boolean; scale?: number };
  const cases: Case[] = [
    { map: 'elu1', B: 1, H: 1, N: 1, D: 5, Dv: 3, C: 64, normalize: true, lam: 1, gate: 'none', s0: true, fin: true },
    { map: 'elu1', B: 1, H: 2, N: 67, D: 16, Dv: 17, C: 16, normalize: true, lam: 0.9, gate: 'mild', s0: true, fin: true },
    { map: 'identity', B: 2, H: 1, N: 130, D: 8, Dv: 8, C: 64, normalize: false, lam: 1, gate: 'flush', s0: false, fin: true },
    { map: 'elu1', B: 1, H: 1, N: 45, D: 6, Dv: 5, C: 64, normalize: true, lam: 1, gate: 'flush', s0: true, fin: false },
    { map: 'identity', B: 1, H: 2, N: 33, D: 4, Dv: 4, C: 8, normalize: false, lam: 0.95, gate: 'none', s0: true, fin: true, scale: 0 },
    { map: 'taylor2', B: 1, H: 1, N: 29, D: 2, Dv: 3, C: 7, normalize: true, lam: 1, gate: 'mild', s0: false, fin: true },
  ];
  for (let c = 0; c < 14; c++) {
    const map = pick(r, ['identity', 'elu1', 'relu', 'taylor2'] as FeatureMap[]);
    cases.push({
      map, B: pick(r, [1, 2]), H: pick(r, [1, 2]), N: pick(r, [1, 2, 31, 64, 65, 127, 200]),
      D: map === 'taylor2' ? pick(r, [1, 2, 3]) : pick(r, [1, 3, 16, 21, 64]), Dv: pick(r, [1, 5, 16, 17]),
      C: pick(r, [3, 16, 64]), normalize: map === 'elu1' || map === 'taylor2' ? r() < 0.7 : false,
      lam: r() < 0.4 ? 0.8 + 0.2 * r() : 1, gate: pick(r, ['none', 'mild', 'flush'] as const), s0: r() < 0.5, fin: r() < 0.5,
    });
  }
  for (const [ci, cs] of cases.entries()) {
    const { map, B, H, N, D, Dv, C, normalize } = cs;
    const BH = B * H;
    const F = R.featureDim(map, D);
    const W = Dv + (normalize ? 1 : 0);
    const scale = cs.scale ?? 1 / Math.sqrt(D);
    const q = randn(r, BH * N * D);
    const k = randn(r, BH * N * D);
    const v = randn(r, BH * N * Dv);
    // 'flush': log decays around -70 per step, so products cross 2^-100 (~e^-69.3) inside a chunk.
    const gate = cs.gate === 'none' ? null : Float32Array.from(randn(r, BH * N), (z) => (cs.gate === 'mild' ? -Math.log1p(Math.exp(-2 - z)) : -69 - 2 * Math.abs(z)));
    const s0 = cs.s0 ? Float32Array.from(randn(r, BH * F * W), (x) => Math.abs(x) + 0.1) : null;
    const gOut = randn(r, BH * N * Dv);
    const gFin = cs.fin ? randn(r, BH * F * W) : null;
    const p: LinearProblem = {
      w, map, D, Dv, F, W, normalize, featScale: scale, outScale: map === 'taylor2' ? 1 : scale, BH, N, C, q, k, v,
      logLam: Float64Array.from({ length: BH }, () => Math.log(cs.lam)), gate, s0,
    };
    const refOpts = { featureMap: map, normalize, decay: cs.lam, scale, initialState: s0, gate };
    const want = R.linearAttentionRefBackward(q, k, v, gOut, gFin, { B, H, N, D, Dv }, refOpts);
    const what = `case ${ci}: ${JSON.stringify(cs)}`;
    const out = new Float32Array(BH * N * Dv);
    const den = normalize ? new Float32Array(BH * N) : null;
    const kept = { states: new Float32Array(statesSize(p)), tiles: new Float32Array(tilesSize(p)) };
    const S = linearForwardStream(p, out, den, kept);
    for (const form of ['one-pass with kept tiles', 'one-pass', 'three-pass']) {
      const g: StreamGrads = {
        dq: new Float32Array(BH * N * D), dk: new Float32Array(BH * N * D), dv: new Float32Array(BH * N * Dv),
        dS0: new Float32Array(BH * F * W), dGate: gate ? new Float32Array(BH * N) : null,
      };
      const from = form === 'three-pass' ? null : form === 'one-pass' ? { states: kept.states, tiles: null } : kept;
      linearBackwardStream(p, out, den, S, from, gOut, gFin, g);
      const checks: [string, Float32Array, Float64Array][] = [['dq', g.dq, want.dq], ['dk', g.dk, want.dk], ['dv', g.dv, want.dv], ['dS0', g.dS0!, want.dInitialState]];
      if (g.dGate) checks.push(['dGate', g.dGate, want.dGate]);
      const floor = Math.max(1e-3, ...checks.map(([, , x]) => 0.01 * maxAbs(x)));
      for (const [name, got, x] of checks) {
        const e = relErrFloor(got, x, floor);
        assert.ok(e < 1e-4, `${what} ${form}: ${name} ${e}`);
      }
    }
  }
});

test('CPU chunk mode keeps per-chunk states (and score tiles) for the one-pass backward only while they take no more memory than q, k and v', () => {
  const w = linearKernels()!;
  const base = { w, map: 'elu1' as FeatureMap, D: 64, Dv: 64, F: 64, W: 65, normalize: true, featScale: 0.125, outScale: 0.125, BH: 2, N: 4096, C: 64, q: new Float32Array(0), k: new Float32Array(0), v: new Float32Array(0), logLam: new Float64Array(2), gate: null, s0: null };
  assert.deepEqual(keptSizes(base), { states: 2 * 64 * 64 * 80, tiles: 2 * 64 * 64 * 64 });
  assert.deepEqual(keptSizes({ ...base, N: 4097 }), { states: 2 * 65 * 64 * 80, tiles: 2 * 65 * 64 * 64 });
  // Chunk 256: states fit, the tiles (256 floats a token) would not beside them.
  assert.deepEqual(keptSizes({ ...base, C: 256 }), { states: 2 * 16 * 64 * 80, tiles: 0 });
  assert.deepEqual(keptSizes({ ...base, C: 1 }), { states: 0, tiles: 0 });
});
