/**
 * SEA (Lee et al., "Sparse … Efficient Attention"): a kernelised linear-attention estimate of the
 * attention map picks each row's top-k keys, and exact softmax attention runs on those k keys only.
 * SEA trains its estimator; ours is training-free: FAVOR+ positive random features
 * φ(x) = exp(ω·x − ‖x‖²/2)/√r, E[φ(q)·φ(k)] = exp(q·k), on rescaled q and k (see seaTopK).
 * One head, plain float arrays on the CPU.
 */
import { TensorError } from '@attnlab/tensor';
import { gaussian, rng } from '../common/random.js';

export interface SeaOptions {
  /** Random features r. Default 64. */
  features?: number;
  /** Keys kept per row. Default 8. */
  topK?: number;
  /** Key j is visible to query i when j ≤ i + nk − nq. Default false. */
  causal?: boolean;
  seed?: number;
  /** Score scale of the exact sparse step; default 1/sqrt(d) (the ranking does not depend on it). */
  scale?: number;
}

/**
 * r Gaussian directions [r, d] in blocks of d mutually orthogonal rows (Gram-Schmidt), each row
 * rescaled to a chi-distributed norm: orthogonal random features, an unbiased estimator with lower
 * variance than independent directions (Performer's FAVOR+).
 */
export function orthogonalDirections(r: number, d: number, seed: number): Float32Array {
  const g = rng(seed);
  const out = new Float32Array(r * d);
  for (let b0 = 0; b0 < r; b0 += d) {
    const rows: Float64Array[] = [];
    for (let i = b0; i < Math.min(r, b0 + d); i++) {
      const x = Float64Array.from(gaussian(g, d));
      for (const u of rows) {
        let dot = 0;
        for (let e = 0; e < d; e++) dot += x[e]! * u[e]!;
        for (let e = 0; e < d; e++) x[e]! -= dot * u[e]!;
      }
      let nrm = 0;
      for (let e = 0; e < d; e++) nrm += x[e]! ** 2;
      nrm = Math.sqrt(nrm);
      for (let e = 0; e < d; e++) x[e]! /= nrm;
      rows.push(x);
      const len = Math.hypot(...gaussian(g, d));
      for (let e = 0; e < d; e++) out[i * d + e] = x[e]! * len;
    }
  }
  return out;
}

export interface SeaShape {
  nq: number;
  nk: number;
  d: number;
}

function check(q: Float32Array, k: Float32Array, s: SeaShape, topK: number, features: number): void {
  for (const [name, x] of Object.entries(s)) if (!Number.isInteger(x) || x < 1) throw new TensorError('sea', `${name} must be a positive integer, got ${String(x)}`);
  if (q.length !== s.nq * s.d) throw new TensorError('sea', `q has ${q.length} values, expected nq·d = ${s.nq}·${s.d}`);
  if (k.length !== s.nk * s.d) throw new TensorError('sea', `k has ${k.length} values, expected nk·d = ${s.nk}·${s.d}`);
  if (!Number.isInteger(topK) || topK < 1) throw new TensorError('sea', `topK must be a positive integer, got ${topK}`);
  if (!Number.isInteger(features) || features < 1) throw new TensorError('sea', `features must be a positive integer, got ${features}`);
}

/** Feature map [n, r] of x [n, d] for random directions w [r, d]. */
export function positiveFeatures(x: Float32Array, n: number, d: number, w: Float32Array, r: number, scale: number): Float32Array {
  const out = new Float32Array(n * r);
  const c = Math.sqrt(scale);
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let e = 0; e < d; e++) sq += (x[i * d + e]! * c) ** 2;
    const logs = new Float64Array(r);
    let mx = -Infinity;
    for (let f = 0; f < r; f++) {
      let dot = 0;
      for (let e = 0; e < d; e++) dot += w[f * d + e]! * x[i * d + e]! * c;
      logs[f] = dot - sq / 2;
      mx = Math.max(mx, logs[f]!);
    }
    // A common per-row factor does not change a row's ranking; dividing by e^max keeps features finite.
    for (let f = 0; f < r; f++) out[i * r + f] = Math.exp(logs[f]! - mx);
  }
  return out;
}

/** Indices of the k largest of row[0..len) (ties: lower index first), descending. */
export function topIndices(row: ArrayLike<number>, len: number, k: number): Int32Array {
  const idx = Array.from({ length: len }, (_, j) => j);
  idx.sort((a, b) => row[b]! - row[a]! || a - b);
  return Int32Array.from(idx.slice(0, Math.min(k, len)));
}

/**
 * Estimated top-k keys per query: [nq][≤ k] (rows with fewer visible keys keep them all).
 * Query features only scale a row, so they are computed per row from the key features.
 */
export function seaTopK(qIn: Float32Array, kIn: Float32Array, s: SeaShape, o: SeaOptions = {}): Int32Array[] {
  const r = o.features ?? 64;
  const topK = o.topK ?? 8;
  check(qIn, kIn, s, topK, r);
  let k = kIn;
  let q = qIn;
  const w = orthogonalDirections(r, s.d, o.seed ?? 0);
  // Subtracting the mean key changes row i's scores by the constant q_i·k̄ (rankings unchanged)
  // and shrinks ‖k‖, which the estimator's variance grows with exponentially.
  const mean = new Float64Array(s.d);
  for (let j = 0; j < s.nk; j++) for (let e = 0; e < s.d; e++) mean[e]! += k[j * s.d + e]! / s.nk;
  k = k.map((x, i) => x - mean[i % s.d]!);
  // Row i's ranking of exp(c·q_i·k_j) is the same for every c > 0, so each query is scaled to unit
  // norm and the keys to unit RMS norm: the estimator's variance grows like exp(‖q‖² + ‖k‖²), and
  // peaked rows (large ‖q‖) would otherwise be ranked by noise.
  let kss = 0;
  for (const x of k) kss += x * x;
  const kScale = kss > 0 ? 1 / Math.sqrt(kss / s.nk) : 1;
  k = k.map((x) => x * kScale);
  const qNorm = new Float64Array(s.nq);
  for (let i = 0; i < s.nq * s.d; i++) qNorm[Math.floor(i / s.d)]! += q[i]! ** 2;
  q = q.map((x, i) => (qNorm[Math.floor(i / s.d)]! > 0 ? x / Math.sqrt(qNorm[Math.floor(i / s.d)]!) : 0));
  const fq = positiveFeatures(q, s.nq, s.d, w, r, 1);
  const fk = positiveFeatures(k, s.nk, s.d, w, r, 1);
  // Keys' features were divided by their own max; put that factor back (it differs per key).
  const c = 1;
  const kLogMax = new Float64Array(s.nk);
  for (let j = 0; j < s.nk; j++) {
    let sq = 0;
    for (let e = 0; e < s.d; e++) sq += (k[j * s.d + e]! * c) ** 2;
    let mx = -Infinity;
    for (let f = 0; f < r; f++) {
      let dot = 0;
      for (let e = 0; e < s.d; e++) dot += w[f * s.d + e]! * k[j * s.d + e]! * c;
      mx = Math.max(mx, dot - sq / 2);
    }
    kLogMax[j] = mx;
  }
  const out: Int32Array[] = [];
  const est = new Float64Array(s.nk);
  for (let i = 0; i < s.nq; i++) {
    const len = o.causal ? Math.max(0, Math.min(s.nk, i + s.nk - s.nq + 1)) : s.nk;
    for (let j = 0; j < len; j++) {
      let dot = 0;
      for (let f = 0; f < r; f++) dot += fq[i * r + f]! * fk[j * r + f]!;
      est[j] = Math.log(dot) + kLogMax[j]!; // log of the estimate, up to the row's factor
    }
    out.push(topIndices(est, len, topK));
  }
  return out;
}

/** Softmax attention of each query over its selected keys only: out [nq, dv] (float32 path). */
export function sparseAttention(q: Float32Array, k: Float32Array, v: Float32Array, s: SeaShape & { dv: number }, keys: readonly Int32Array[], scale = 1 / Math.sqrt(s.d)): Float32Array {
  if (keys.length !== s.nq) throw new TensorError('sea', `keys has ${keys.length} rows, expected nq = ${s.nq}`);
  if (v.length !== s.nk * s.dv) throw new TensorError('sea', `v has ${v.length} values, expected nk·dv = ${s.nk}·${s.dv}`);
  const out = new Float32Array(s.nq * s.dv);
  for (let i = 0; i < s.nq; i++) {
    const sel = keys[i]!;
    const sc = new Float64Array(sel.length);
    let mx = -Infinity;
    for (let c = 0; c < sel.length; c++) {
      const j = sel[c]!;
      if (!(j >= 0 && j < s.nk)) throw new TensorError('sea', `row ${i} selects key ${j}, outside 0..${s.nk - 1}`);
      let dot = 0;
      for (let e = 0; e < s.d; e++) dot += q[i * s.d + e]! * k[j * s.d + e]!;
      sc[c] = dot * scale;
      mx = Math.max(mx, sc[c]!);
    }
    let den = 0;
    const acc = new Float64Array(s.dv);
    for (let c = 0; c < sel.length; c++) {
      const p = Math.exp(sc[c]! - mx);
      den += p;
      for (let e = 0; e < s.dv; e++) acc[e] += p * v[sel[c]! * s.dv + e]!;
    }
    if (den > 0) for (let e = 0; e < s.dv; e++) out[i * s.dv + e] = acc[e]! / den;
  }
  return out;
}

/** SEA for one head: estimated top-k, then exact attention on it. */
export function sea(q: Float32Array, k: Float32Array, v: Float32Array, s: SeaShape & { dv: number }, o: SeaOptions = {}): { out: Float32Array; keys: Int32Array[] } {
  const keys = seaTopK(q, k, s, o);
  return { out: sparseAttention(q, k, v, s, keys, o.scale ?? 1 / Math.sqrt(s.d)), keys };
}
