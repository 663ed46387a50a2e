/** Float64 references for SEA: the exact top-k of each row, recall of a selection, and masked attention. */
import type { SeaShape } from './estimate.js';

/** Exact top-k keys per row from float64 scores (ties: lower index first). */
export function exactTopK64(q: ArrayLike<number>, k: ArrayLike<number>, s: SeaShape, topK: number, causal = false): Int32Array[] {
  const out: Int32Array[] = [];
  for (let i = 0; i < s.nq; i++) {
    const len = causal ? Math.max(0, Math.min(s.nk, i + s.nk - s.nq + 1)) : s.nk;
    const row: number[] = [];
    for (let j = 0; j < len; j++) {
      let dot = 0;
      for (let e = 0; e < s.d; e++) dot += q[i * s.d + e]! * k[j * s.d + e]!;
      row.push(dot);
    }
    const idx = row.map((_, j) => j).sort((a, b) => row[b]! - row[a]! || a - b);
    out.push(Int32Array.from(idx.slice(0, Math.min(topK, len))));
  }
  return out;
}

/** Fraction of the true top-k entries that the estimate also selected, over all rows. */
export function topKRecall(estimate: readonly Int32Array[], truth: readonly Int32Array[]): number {
  if (estimate.length !== truth.length) throw new RangeError(`topKRecall: ${estimate.length} vs ${truth.length} rows`);
  let hit = 0;
  let all = 0;
  for (let i = 0; i < truth.length; i++) {
    const e = new Set(estimate[i]);
    for (const j of truth[i]!) if (e.has(j)) hit++;
    all += truth[i]!.length;
  }
  return all ? hit / all : 1;
}

/** Softmax attention restricted to the given keys per row, float64 (a 0/1 mask over all columns). */
export function maskedAttention64(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, s: SeaShape & { dv: number }, keys: readonly Int32Array[], scale = 1 / Math.sqrt(s.d)): Float64Array {
  const out = new Float64Array(s.nq * s.dv);
  for (let i = 0; i < s.nq; i++) {
    const keep = new Uint8Array(s.nk);
    for (const j of keys[i]!) keep[j] = 1;
    const sc = new Float64Array(s.nk);
    let mx = -Infinity;
    for (let j = 0; j < s.nk; j++) {
      if (!keep[j]) continue;
      let dot = 0;
      for (let e = 0; e < s.d; e++) dot += q[i * s.d + e]! * k[j * s.d + e]!;
      sc[j] = dot * scale;
      mx = Math.max(mx, sc[j]!);
    }
    let den = 0;
    for (let j = 0; j < s.nk; j++) {
      if (!keep[j]) continue;
      const p = Math.exp(sc[j]! - mx);
      den += p;
      for (let e = 0; e < s.dv; e++) out[i * s.dv + e] += p * v[j * s.dv + e]!;
    }
    if (den > 0) for (let e = 0; e < s.dv; e++) out[i * s.dv + e] /= den;
  }
  return out;
}

/**
 * Float64 reference of the trained estimator's normalised log-rows for one head: q [nq, d], k [nk, d],
 * wq, wk [d, r]; 'exp' sums exp(a_f)·exp(b_f) directly (no shifts), 'bilinear' uses a·b; causal rows
 * end-aligned, hidden keys −Infinity.
 */
export function estimatorLogProbs64(q: ArrayLike<number>, k: ArrayLike<number>, wq: ArrayLike<number>, wk: ArrayLike<number>, s: SeaShape & { r: number }, kind: 'exp' | 'bilinear', causal: boolean): Float64Array {
  const proj = (x: ArrayLike<number>, n: number, w: ArrayLike<number>): number[][] =>
    Array.from({ length: n }, (_, i) => Array.from({ length: s.r }, (_, f) => {
      let z = 0;
      for (let c = 0; c < s.d; c++) z += x[i * s.d + c]! * w[c * s.r + f]!;
      return z;
    }));
  const a = proj(q, s.nq, wq);
  const b = proj(k, s.nk, wk);
  const out = new Float64Array(s.nq * s.nk).fill(-Infinity);
  for (let i = 0; i < s.nq; i++) {
    const len = causal ? Math.max(0, Math.min(s.nk, i + s.nk - s.nq + 1)) : s.nk;
    const row = Array.from({ length: len }, (_, j) => kind === 'exp'
      ? Math.log(a[i]!.reduce((acc, x, f) => acc + Math.exp(x) * Math.exp(b[j]![f]!), 0))
      : a[i]!.reduce((acc, x, f) => acc + x * b[j]![f]!, 0));
    const mx = Math.max(...row);
    const lse = mx + Math.log(row.reduce((acc, x) => acc + Math.exp(x - mx), 0));
    row.forEach((x, j) => (out[i * s.nk + j] = x - lse));
  }
  return out;
}
