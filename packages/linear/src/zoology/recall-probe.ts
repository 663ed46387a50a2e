/**
 * A training-free associative-recall probe for one attention layer (the F6 notebook's BASED,
 * sparse-hybrid and RAT dials): N pairs (key k_i: a random unit vector in d_k, value v_i: one of M
 * random unit codebook vectors in d_v) are the sequence, and a query row equal to the key of pair j
 * is appended at position N (one sequence per query). A mixer's output for the query counts as
 * recalled when its nearest codebook entry is v_j. Scores are beta q.k (beta sharpens the match).
 *   softmax       exact attention over all N keys (@attnlab/attention attention)
 *   taylor        BASED's linear branch: weights 1 + s + s^2/2, s = beta q.k over all d_k dims, normalised
 *   based(W, d')  exact softmax weights for the W keys nearest the query, Taylor weights over the first
 *                 d' dims for the rest, one normaliser (W = 0: pure Taylor linear; W >= N: softmax)
 *   sparse(k)     input-dependent sparse hybrid: exact softmax weights on the query's top-k keys by
 *                 score (its own row included), Taylor weights (all d_k dims) on the rest, one normaliser
 *   rat(L, a)     @attnlab/linear ratAttention on the sequence (L = 1: softmax; L > N: the RNN)
 * The query row itself carries a zero value, so it adds weight but nothing recalled.
 */
import { attention, causal, linearAttention } from '@attnlab/attention';
import { TensorError, tensor, type Device } from '@attnlab/tensor';
import { rng as mulberry, randnArray } from '../common/numeric.js';
import { ratAttention } from '../rat/attention.js';

export interface RecallProblem {
  N: number;
  dk: number;
  dv: number;
  M: number;
  /** [N, dk] unit keys, [M, dv] unit codes, [N] code of each pair, [Q] pair asked by each query. */
  keys: Float64Array;
  codebook: Float64Array;
  codes: Int32Array;
  asked: Int32Array;
}

export type ProbeMixer =
  | { kind: 'softmax' }
  | { kind: 'taylor' }
  | { kind: 'based'; window: number; featureDim: number }
  | { kind: 'sparse'; topK: number }
  | { kind: 'rat'; chunkSize: number; decay: number };

function unit(r: () => number, rows: number, d: number): Float64Array {
  const x = Float64Array.from(randnArray(r, rows * d));
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += x[i * d + c]! ** 2;
    for (let c = 0; c < d; c++) x[i * d + c]! /= Math.sqrt(s);
  }
  return x;
}

export function recallProblem(o: { N: number; dk: number; dv?: number; M?: number; queries?: number; seed?: number }): RecallProblem {
  const dv = o.dv ?? 32;
  const M = o.M ?? 64;
  const Q = o.queries ?? 128;
  for (const [n, v] of [['N', o.N], ['dk', o.dk], ['dv', dv], ['M', M], ['queries', Q]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new TensorError('recallProblem', `${n} must be a positive integer, got ${v}`);
  }
  const r = mulberry(o.seed ?? 1);
  return {
    N: o.N, dk: o.dk, dv, M,
    keys: unit(r, o.N, o.dk),
    codebook: unit(r, M, dv),
    codes: Int32Array.from({ length: o.N }, () => Math.floor(r() * M)),
    asked: Int32Array.from({ length: Q }, () => Math.floor(r() * o.N)),
  };
}

/** Fraction of queries whose output's nearest code (by dot product) is the asked pair's code. */
export function scoreRecall(p: RecallProblem, outs: ArrayLike<number>): number {
  let hits = 0;
  p.asked.forEach((j, qi) => {
    let best = -Infinity;
    let arg = -1;
    for (let m = 0; m < p.M; m++) {
      let s = 0;
      for (let c = 0; c < p.dv; c++) s += outs[qi * p.dv + c]! * p.codebook[m * p.dv + c]!;
      if (s > best) {
        best = s;
        arg = m;
      }
    }
    if (arg === p.codes[j]) hits++;
  });
  return hits / p.asked.length;
}

const taylor = (s: number): number => 1 + s + 0.5 * s * s;

/** Float64 outputs [Q, dv] of the weight-mixing mixers (softmax, taylor, based, sparse). */
export function mixNaive(p: RecallProblem, m: Exclude<ProbeMixer, { kind: 'rat' }>, beta: number): Float64Array {
  const { N, dk, dv } = p;
  const out = new Float64Array(p.asked.length * dv);
  p.asked.forEach((j, qi) => {
    const q = p.keys.subarray(j * dk, (j + 1) * dk);
    const dot = (i: number, d: number) => {
      let s = 0;
      for (let c = 0; c < d; c++) s += q[c]! * p.keys[i * dk + c]!;
      return beta * s;
    };
    // The query row (position N, zero value): its own weight joins the normaliser.
    const self = dot(j, dk);
    const full = Array.from({ length: N }, (_, i) => dot(i, dk));
    const exact = new Uint8Array(N);
    let fd = dk;
    let selfExact = true;
    if (m.kind === 'softmax') exact.fill(1);
    else if (m.kind === 'taylor') selfExact = false;
    else if (m.kind === 'based') {
      if (!Number.isInteger(m.window) || m.window < 0) throw new TensorError('mixNaive', `window must be a non-negative integer, got ${m.window}`);
      if (!Number.isInteger(m.featureDim) || m.featureDim < 1 || m.featureDim > dk) throw new TensorError('mixNaive', `featureDim must be an integer in [1, ${dk}], got ${m.featureDim}`);
      fd = m.featureDim;
      for (let i = Math.max(0, N + 1 - m.window); i < N; i++) exact[i] = 1;
      selfExact = m.window >= 1;
    } else {
      if (!Number.isInteger(m.topK) || m.topK < 0) throw new TensorError('mixNaive', `topK must be a non-negative integer, got ${m.topK}`);
      // Candidates: the N pair rows and the query's own row (index N), as a causal top-k would see them.
      const all = [...full, self];
      const top = [...all.keys()].sort((a, b) => all[b]! - all[a]!).slice(0, m.topK);
      selfExact = top.includes(N);
      top.forEach((i) => i < N && (exact[i] = 1));
    }
    // Exact weights e^s (shifted by the largest exact score) and Taylor weights on the same shift.
    const w = full.map((s, i) => (exact[i] ? s : NaN));
    const maxExact = Math.max(selfExact ? self : -Infinity, ...w.filter((x) => !Number.isNaN(x)));
    const shift = Number.isFinite(maxExact) ? maxExact : 0;
    let z = selfExact ? Math.exp(self - shift) : taylor(fd === dk ? self : dot(j, fd)) * Math.exp(-shift);
    for (let i = 0; i < N; i++) {
      const wi = exact[i] ? Math.exp(full[i]! - shift) : taylor(fd === dk ? full[i]! : dot(i, fd)) * Math.exp(-shift);
      z += wi;
      const code = p.codes[i]!;
      for (let c = 0; c < dv; c++) out[qi * dv + c]! += wi * p.codebook[code * dv + c]!;
    }
    for (let c = 0; c < dv; c++) out[qi * dv + c]! /= z;
  });
  return out;
}

/** q, k, v tensors [Q, 1, N + 1, *]: one sequence per query (pairs, then the query row). */
function sequences(p: RecallProblem, device?: Device) {
  const { N, dk, dv } = p;
  const Q = p.asked.length;
  const k = new Float32Array(Q * (N + 1) * dk);
  const v = new Float32Array(Q * (N + 1) * dv);
  const q = new Float32Array(Q * (N + 1) * dk);
  p.asked.forEach((j, qi) => {
    const o = qi * (N + 1);
    for (let i = 0; i < N; i++) {
      k.set(p.keys.subarray(i * dk, (i + 1) * dk), (o + i) * dk);
      v.set(p.codebook.subarray(p.codes[i]! * dv, (p.codes[i]! + 1) * dv), (o + i) * dv);
      q.set(p.keys.subarray(i * dk, (i + 1) * dk), (o + i) * dk);
    }
    k.set(p.keys.subarray(j * dk, (j + 1) * dk), (o + N) * dk);
    q.set(p.keys.subarray(j * dk, (j + 1) * dk), (o + N) * dk);
  });
  const opts = device ? { device } : {};
  return { q: tensor(q, [Q, 1, N + 1, dk], opts), k: tensor(k, [Q, 1, N + 1, dk], opts), v: tensor(v, [Q, 1, N + 1, dv], opts) };
}

/**
 * The query rows' outputs [Q, dv] of a library-op mixer: softmax through attention, taylor through
 * linearAttention (featureMap 'taylor2', normalised: BASED's linear branch), RAT through ratAttention.
 */
export async function mixWithOps(p: RecallProblem, m: { kind: 'softmax' } | { kind: 'taylor' } | { kind: 'rat'; chunkSize: number; decay: number }, beta: number, device?: Device): Promise<Float32Array> {
  const { q, k, v } = sequences(p, device);
  const out = m.kind === 'softmax'
    ? (await attention(q, k, v, { mask: causal(), scale: beta })).out
    : m.kind === 'taylor'
      ? (await linearAttention(q, k, v, { featureMap: 'taylor2', normalize: true, scale: beta, mode: 'chunk' })).out
      : (await ratAttention(q, k, v, { chunkSize: m.chunkSize, decay: m.decay, scale: beta })).out;
  const all = (await out.data()) as Float32Array;
  const { N, dv } = p;
  const rows = new Float32Array(p.asked.length * dv);
  for (let qi = 0; qi < p.asked.length; qi++) rows.set(all.subarray((qi * (N + 1) + N) * dv, (qi * (N + 1) + N + 1) * dv), qi * dv);
  [q, k, v, out].forEach((t) => t.dispose());
  return rows;
}

/** Recall of a mixer on a problem (library ops for softmax and rat, float64 for the weight mixers). */
export async function probeRecall(p: RecallProblem, m: ProbeMixer, beta: number, device?: Device): Promise<number> {
  return scoreRecall(p, m.kind === 'rat' ? await mixWithOps(p, m, beta, device) : mixNaive(p, m, beta));
}

/** Float32 bytes a decoder holds for the mixer at context N with key dim dk and value dim dv. */
export function probeStateBytes(m: ProbeMixer, N: number, dk: number, dv: number): number {
  const taylorState = (d: number) => (1 + d + d * d) * (dv + 1);
  switch (m.kind) {
    case 'softmax': return 4 * N * (dk + dv);
    case 'taylor': return 4 * taylorState(dk);
    case 'based': return 4 * (taylorState(m.featureDim) + Math.min(m.window, N) * (dk + dv));
    case 'sparse': return 4 * (taylorState(dk) + N * (dk + dv));
    case 'rat': return 4 * (Math.floor(N / m.chunkSize) + 1) * (dk + dv);
  }
}
