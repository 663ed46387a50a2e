/**
 * Normalised rows that the flushed decay factors (below 2^-100, linear-wasm.ts) got wrong: a row
 * whose normaliser comes (almost) only from keys decayed that far, e.g. a relu query that meets
 * no undecayed key. The normalised output does not change when all of a row's weights scale
 * alike, so such a row is recomputed exactly in float64 with its weights shifted by their max.
 */
import { featurize } from '../reference/linear.js';
import type { LinearProblem } from './linear-stream.js';

/** Flushed terms sum to under 2^-100 of the undecayed overlap; below 2^-76 of it they can matter in float32. */
const SUSPECT = 2 ** -76;

function logDecay(p: LinearProblem, bh: number, t: number): number {
  return p.logLam[bh]! + (p.gate ? p.gate[bh * p.N + t]! : 0);
}

/** phi(q) as the forward used it (elu1 with normalize: rows with no positive entry over e^max). */
function queryFeatures(p: LinearProblem, r: number): Float64Array {
  const f = featurize(p.map, p.q, r * p.D, p.D, p.featScale);
  if (p.map !== 'elu1') return f;
  let m = -Infinity;
  for (let d = 0; d < p.D; d++) m = Math.max(m, p.q[r * p.D + d]!);
  if (m <= 0) for (let d = 0; d < p.D; d++) f[d] = Math.exp(p.q[r * p.D + d]! - m);
  return f;
}

/**
 * Rows (bh * N + t) whose normaliser `den` is below 2^-76 of the undecayed overlap
 * |phi(q_t)| . (|z0| + sum_{j<=t} |phi(k_j)|) times the output scale: O(N F) per sequence.
 */
export function flushedRows(p: LinearProblem, den: Float32Array): number[] {
  const { BH, N, F, W, Dv } = p;
  const rows: number[] = [];
  const acc = new Float64Array(F);
  for (let bh = 0; bh < BH; bh++) {
    // Nothing was flushed unless the cumulative decay over the sequence drops below 2^-100.
    let total = 0;
    for (let t = 0; t < N; t++) total += logDecay(p, bh, t);
    if (total > -100 * Math.LN2) continue;
    acc.fill(0);
    if (p.s0) for (let f = 0; f < F; f++) acc[f] = Math.abs(p.s0[(bh * F + f) * W + Dv]!);
    let L = 0;
    for (let t = 0; t < N; t++) {
      L += logDecay(p, bh, t);
      const fk = featurize(p.map, p.k, (bh * N + t) * p.D, p.D, p.featScale);
      for (let f = 0; f < F; f++) acc[f] += Math.abs(fk[f]!);
      if (L > -100 * Math.LN2) continue;
      const fq = queryFeatures(p, bh * N + t);
      let u = 0;
      for (let f = 0; f < F; f++) u += Math.abs(fq[f]!) * acc[f]!;
      if (u > 0 && Math.abs(den[bh * N + t]!) < SUSPECT * Math.abs(p.outScale) * u) rows.push(bh * N + t);
    }
  }
  return rows;
}

/** Row r's normalised output in float64 into out[r*Dv ..], weights exp(logw - max logw) over keys that meet it. */
export function exactRow(p: LinearProblem, r: number, out: Float32Array): void {
  const { N, F, W, Dv, D } = p;
  const bh = Math.floor(r / N);
  const t = r - bh * N;
  const fq = queryFeatures(p, r);
  // logw[j] = log decay from j to t (sum of the steps j+1..t); the initial state sits at j = -1.
  const logw = new Float64Array(t + 2);
  for (let j = t - 1; j >= -1; j--) logw[j + 1] = logw[j + 2]! + logDecay(p, bh, j + 1);
  const dot = new Float64Array(t + 1);
  let m = -Infinity;
  for (let j = 0; j <= t; j++) {
    const fk = featurize(p.map, p.k, (bh * N + j) * D, D, p.featScale);
    let s = 0;
    for (let f = 0; f < F; f++) s += fq[f]! * fk[f]!;
    dot[j] = s;
    if (s !== 0) m = Math.max(m, logw[j + 1]!);
  }
  const s0Row = new Float64Array(W);
  if (p.s0) {
    for (let f = 0; f < F; f++) for (let c = 0; c < W; c++) s0Row[c] += fq[f]! * p.s0[(bh * F + f) * W + c]!;
    if (s0Row.some((x) => x !== 0)) m = Math.max(m, logw[0]!);
  }
  const acc = new Float64Array(W);
  if (m === -Infinity) { out.fill(0, r * Dv, (r + 1) * Dv); return; }
  if (p.s0) { const e = Math.exp(logw[0]! - m); for (let c = 0; c < W; c++) acc[c] += e * s0Row[c]!; }
  for (let j = 0; j <= t; j++) {
    if (dot[j] === 0) continue;
    const e = Math.exp(logw[j + 1]! - m) * dot[j]!;
    for (let c = 0; c < Dv; c++) acc[c] += e * p.v[(bh * N + j) * Dv + c]!;
    acc[Dv] += e;
  }
  const den = acc[Dv]!;
  for (let c = 0; c < Dv; c++) out[r * Dv + c] = den === 0 ? 0 : acc[c]! / den;
}
