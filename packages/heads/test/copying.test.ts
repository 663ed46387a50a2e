/**
 * OV copying scores: the eigenvalue solver against power sums (sum λ^k = trace(M^k)) and known
 * spectra; the three scores against the full V x V circuit built here in float64 with plain
 * loops; hand-built copying / anti-copying / permuting heads; errors; registration.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng } from '@attnlab/tensor';
import { computeScore, Transformer, type ModelConfigInput } from '@attnlab/models';
import { copyingScores, eigenvalues, registerScores, type Eigenvalues } from '../src/index.js';
import { devices, randomModel } from './util.js';

type Sq = Float64Array<ArrayBufferLike>; // row-major n x n

function matmulSq(a: Sq, b: Sq, n: number): Sq {
  const o = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) o[i * n + j]! += a[i * n + k]! * b[k * n + j]!;
  return o;
}

/** Checks sum λ^k = trace(M^k) for k = 1..kmax (these determine the spectrum), relative to sum |λ|^k. */
function assertSpectrum(ev: Eigenvalues, M: Sq, n: number, kmax: number, what: string): void {
  let P: Sq = Float64Array.from(M);
  let pr = ev.re.map(() => 1), pi = ev.im.map(() => 0);
  for (let k = 1; k <= kmax; k++) {
    if (k > 1) P = matmulSq(P, M, n);
    let tr = 0;
    for (let i = 0; i < n; i++) tr += P[i * n + i]!;
    let sr = 0, si = 0, sabs = 0;
    const nr = new Float64Array(ev.re.length), ni = new Float64Array(ev.re.length);
    for (let i = 0; i < ev.re.length; i++) {
      nr[i] = pr[i]! * ev.re[i]! - pi[i]! * ev.im[i]!;
      ni[i] = pr[i]! * ev.im[i]! + pi[i]! * ev.re[i]!;
      sr += nr[i]!;
      si += ni[i]!;
      sabs += Math.hypot(nr[i]!, ni[i]!);
    }
    pr = nr;
    pi = ni;
    const tol = 1e-9 * Math.max(sabs, 1e-300) * k;
    assert.ok(Math.abs(sr - tr) <= tol, `${what}: sum λ^${k} = ${sr}, trace(M^${k}) = ${tr}`);
    assert.ok(Math.abs(si) <= tol, `${what}: sum λ^${k} has imaginary part ${si}`);
  }
}

test('eigenvalues: power sums match traces of powers on random matrices (n = 1, 2, 3, 5, 8, 17, 32) and known spectra', () => {
  const rng = new Rng(3);
  for (const n of [1, 2, 3, 5, 8, 17, 32]) {
    for (let rep = 0; rep < 3; rep++) {
      const M = Float64Array.from({ length: n * n }, () => rng.normal() / Math.sqrt(n));
      assertSpectrum(eigenvalues(M, n), M, n, Math.min(n, 12), `random ${n}x${n} #${rep}`);
    }
  }
  // A rotation: ±i. An upper-triangular matrix: its diagonal. A 5-cycle permutation: the 5th roots of unity.
  const rot = eigenvalues([0, -1, 1, 0], 2);
  assert.deepEqual([...rot.re].map((v) => Math.abs(v) < 1e-15 ? 0 : v), [0, 0]);
  assert.deepEqual([...rot.im].sort(), [-1, 1]);
  const tri = eigenvalues([2, 5, 7, 0, -3, 1, 0, 0, 0.5], 3);
  assert.deepEqual([...tri.re].sort((a, b) => a - b), [-3, 0.5, 2]);
  const cyc = new Float64Array(25);
  for (let i = 0; i < 5; i++) cyc[i * 5 + ((i + 1) % 5)] = 1;
  const ec = eigenvalues(cyc, 5);
  const got = [...ec.re].map((r, i) => Math.atan2(ec.im[i]!, r)).sort((a, b) => a - b);
  const want = [-4, -2, 0, 2, 4].map((k) => (k * Math.PI) / 5);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) < 1e-12, `5-cycle angle ${g} vs ${want[i]}`));
  assert.throws(() => eigenvalues([1, 2, 3], 2), /expected 2 x 2 = 4 entries, got 3/);
  assert.throws(() => eigenvalues([1, NaN, 0, 1], 2), /non-finite entry/);
});

/** The full OV circuit A [n, n] of (l, h) from the parameters, written out from the definition in float64. */
async function fullOV(model: Transformer, l: number, h: number, S: number[]): Promise<Sq> {
  const c = model.config;
  const { dModel: D, nHeads: H, dHead: Dh } = c;
  const p = async (n: string) => Float64Array.from(await model.param(n).data());
  const wte = await p('wte.weight');
  const U = c.tiedEmbeddings ? wte : await p('lm_head.weight');
  const one = new Float64Array(D).fill(1);
  const g1 = c.norm === 'none' ? one : await p(`h.${l}.ln_1.weight`);
  const gf = c.norm === 'none' ? one : await p('ln_f.weight');
  const W = await p(`h.${l}.attn.c_attn.weight`);
  const O = await p(`h.${l}.attn.c_proj.weight`);
  const ln = c.norm === 'layernorm';
  const n = S.length;
  const A = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    // The embedding row as LayerNorm's centring sees it, then ln_1's gain, then W_V.
    const e = Array.from({ length: D }, (_, d) => wte[S[a]! * D + d]!);
    const mu = ln ? e.reduce((x, y) => x + y, 0) / D : 0;
    const v = new Float64Array(Dh);
    for (let d = 0; d < D; d++) for (let j = 0; j < Dh; j++) v[j]! += (e[d]! - mu) * g1[d]! * W[d * 3 * H * Dh + 2 * H * Dh + h * Dh + j]!;
    // Through W_O, centred as ln_f would centre it, then ln_f's gain and the unembedding.
    const out = new Float64Array(D);
    for (let j = 0; j < Dh; j++) for (let d = 0; d < D; d++) out[d]! += v[j]! * O[(h * Dh + j) * D + d]!;
    const m2 = ln ? out.reduce((x, y) => x + y, 0) / D : 0;
    for (let b = 0; b < n; b++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += (out[d]! - m2) * gf[d]! * U[S[b]! * D + d]!;
      A[a * n + b] = s;
    }
  }
  return A;
}

test('copying scores match the float64 full OV circuit: eigenvalues by power sums, top-1 and logit gain directly (CPU and WebGPU)', async () => {
  const cfgs: [ModelConfigInput, number[] | undefined][] = [
    [{ vocabSize: 11, dModel: 12, nLayers: 2, nHeads: 3, attnOnly: true, nCtx: 8 }, undefined],
    [{ vocabSize: 9, dModel: 10, nLayers: 1, nHeads: 2, dHead: 5, norm: 'rmsnorm', tiedEmbeddings: false, nCtx: 8 }, [0, 3, 4, 8]],
    [{ vocabSize: 7, dModel: 6, nLayers: 2, nHeads: 1, dHead: 3, norm: 'none', nCtx: 8 }, [5]],
  ];
  for (const dev of await devices()) {
    for (const [k, [cfg, vocab]] of cfgs.entries()) {
      const model = randomModel(cfg, 40 + k, dev);
      const r = await copyingScores(model, vocab ? { tokens: vocab } : {});
      const S = vocab ?? Array.from({ length: cfg.vocabSize }, (_, i) => i);
      const n = S.length;
      const [eig, top, gain] = await Promise.all([r.eigen.data(), r.top1.data(), r.logitGain.data()]);
      assert.equal(r.eigen.device.kind, dev.kind);
      assert.deepEqual(r.eigen.shape, [model.config.nLayers, model.config.nHeads]);
      for (let l = 0; l < model.config.nLayers; l++) for (let h = 0; h < model.config.nHeads; h++) {
        const what = `${dev.kind} cfg ${k} L${l}H${h}`;
        const A = await fullOV(model, l, h, S);
        const ev = r.eigenvalues[l]![h]!;
        // A has rank <= d_head: its power sums are those of the d_head eigenvalues returned.
        assertSpectrum(ev, A, n, Math.min(model.config.dHead, 6), what);
        let sRe = 0, sAbs = 0;
        for (let i = 0; i < ev.re.length; i++) { sRe += ev.re[i]!; sAbs += Math.hypot(ev.re[i]!, ev.im[i]!); }
        assert.ok(Math.abs(eig[l * model.config.nHeads + h]! - sRe / sAbs) < 1e-6, `${what} eigen`);
        let hits = 0, g = 0;
        for (let a = 0; a < n; a++) {
          let best = true, mean = 0;
          for (let b = 0; b < n; b++) { mean += A[a * n + b]! / n; if (b !== a && A[a * n + b]! >= A[a * n + a]!) best = false; }
          hits += best ? 1 : 0;
          g += A[a * n + a]! - mean;
        }
        assert.equal(top[l * model.config.nHeads + h], Math.fround(hits / n), `${what} top1`);
        assert.ok(Math.abs(gain[l * model.config.nHeads + h]! - g / n) <= 1e-5 * Math.max(1, Math.abs(g / n)), `${what} gain ${gain[l * model.config.nHeads + h]} vs ${g / n}`);
      }
      r.eigen.dispose(); r.top1.dispose(); r.logitGain.dispose();
    }
  }
});

/** Sets a parameter by name to the given values (the rest stay as they are). */
function setParams(model: Transformer, values: Record<string, Float32Array>): void {
  const state = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [name, shape] of model.paramShapes()) state.set(name, { data: values[name] ?? new Float32Array(shape.reduce((a, b) => a * b, 1)), shape });
  model.loadStateDict(state);
}

test('hand-built heads: OV = identity copies (eigen 1, top-1 1), OV = -identity anti-copies (-1, 0), a 4-cycle permutation scores 0', async () => {
  // 4 tokens embedded one-hot in d_model 8; each head has d_head 4 reading the first 4 dimensions.
  const V = 4, D = 8, H = 2, Dh = 4;
  const model = new Transformer({ vocabSize: V, dModel: D, nLayers: 2, nHeads: H, dHead: Dh, attnOnly: true, norm: 'none', nCtx: 8 }, { seed: 1 });
  const wte = new Float32Array(V * D);
  for (let t = 0; t < V; t++) wte[t * D + t] = 1;
  const attn = (vOf: (d: number, j: number) => number) => {
    const w = new Float32Array(D * 3 * H * Dh);
    for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) for (let j = 0; j < Dh; j++) w[d * 3 * H * Dh + 2 * H * Dh + h * Dh + j] = vOf(d, j);
    return w;
  };
  const proj = (oOf: (h: number, j: number, d: number) => number) => {
    const w = new Float32Array(H * Dh * D);
    for (let h = 0; h < H; h++) for (let j = 0; j < Dh; j++) for (let d = 0; d < D; d++) w[(h * Dh + j) * D + d] = oOf(h, j, d);
    return w;
  };
  setParams(model, {
    'wte.weight': wte,
    'h.0.attn.c_attn.weight': attn((d, j) => (d === j ? 1 : 0)),
    'h.0.attn.c_proj.weight': proj((h, j, d) => (d === j ? (h === 0 ? 2 : -2) : 0)),
    // Layer 1 head 0: token t writes token t+1 mod 4 (a 4-cycle), head 1: nothing at all.
    'h.1.attn.c_attn.weight': attn((d, j) => (d === j ? 1 : 0)),
    'h.1.attn.c_proj.weight': proj((h, j, d) => (h === 0 && d === (j + 1) % V ? 1 : 0)),
    'wpe.weight': new Float32Array(8 * D),
  });
  const r = await copyingScores(model);
  const eig = [...(await r.eigen.data())];
  const top = [...(await r.top1.data())];
  const gain = [...(await r.logitGain.data())];
  assert.deepEqual(eig.slice(0, 2), [1, -1]);
  assert.ok(Math.abs(eig[2]!) < 1e-12, `4-cycle eigen ${eig[2]}`);
  assert.ok(Number.isNaN(eig[3]!), 'a head with no OV circuit scores NaN (nothing to measure)');
  assert.deepEqual(top, [1, 0, 0, 0]);
  assert.deepEqual(gain, [2 * (1 - 1 / V), -2 * (1 - 1 / V), -1 / V, 0]);
});

test('copying errors name the problem; registered as "copying" and "copying-top1"', async () => {
  const model = randomModel({ vocabSize: 5, dModel: 8, nLayers: 1, nHeads: 2, attnOnly: true, nCtx: 8 }, 2, (await devices())[0]!);
  await assert.rejects(copyingScores(model, { tokens: [1, 5] }), /token id 5 is outside the vocabulary of 5/);
  await assert.rejects(copyingScores(model, { tokens: [1, 1] }), /token id 1 is listed twice/);
  await assert.rejects(copyingScores(model, { tokens: [] }), /non-empty array/);
  const reg = registerScores();
  try {
    const direct = await copyingScores(model, { tokens: [0, 2, 4] });
    const viaRegistry = await computeScore('copying', model, { vocab: [0, 2, 4] });
    assert.deepEqual([...(await viaRegistry.data())], [...(await direct.eigen.data())]);
    const t1 = await computeScore('copying-top1', model);
    assert.deepEqual(t1.shape, [1, 2]);
  } finally {
    reg.dispose();
  }
});
