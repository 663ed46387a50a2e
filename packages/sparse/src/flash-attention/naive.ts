/**
 * Float64 reference attention, row by row: the ground truth the exact kernels are checked
 * against. Rows are independent, so long sequences can be checked on a sample of query rows
 * exactly (each sampled row is computed over all its keys).
 */
import type { KeepFn } from '../common/dense.js';

export interface NaiveDims {
  /** Batch and heads (k, v share q's heads: no GQA here). */
  B: number;
  H: number;
  Nq: number;
  Nk: number;
  D: number;
}

export interface NaiveOptions {
  /** Default 1/sqrt(D). */
  scale?: number;
  /** Kept (h, q, k); null keeps every key. */
  keep?: KeepFn | null;
  normalize?: 'softmax' | 'sigmoid';
  /** Added to every score before the sigmoid; default -log(Nk) (FlashSigmoid's b = -log n). */
  sigmoidBias?: number;
  /** Query rows to compute (default all). */
  rows?: readonly number[];
}

/** out [B, H, rows.length, D] in float64 for q [B,H,Nq,D], k, v [B,H,Nk,D] (row-major arrays). */
export function naiveAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dims: NaiveDims, o: NaiveOptions = {}): Float64Array {
  const { B, H, Nq, Nk, D } = dims;
  for (const [name, a, want] of [['q', q, B * H * Nq * D], ['k', k, B * H * Nk * D], ['v', v, B * H * Nk * D]] as const) {
    if (a.length !== want) throw new RangeError(`naiveAttention: ${name} has ${a.length} values, expected ${want} for ${JSON.stringify(dims)}`);
  }
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const sigmoid = (o.normalize ?? 'softmax') === 'sigmoid';
  const bias = o.sigmoidBias ?? -Math.log(Nk);
  const rows = o.rows ?? Array.from({ length: Nq }, (_, i) => i);
  const R = rows.length;
  const out = new Float64Array(B * H * R * D);
  const s = new Float64Array(Nk);
  const kept = new Uint8Array(Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const qo = (b * H + h) * Nq * D;
      const ko = (b * H + h) * Nk * D;
      for (let ri = 0; ri < R; ri++) {
        const i = rows[ri]!;
        if (!(i >= 0 && i < Nq)) throw new RangeError(`naiveAttention: row ${i} out of range [0, ${Nq})`);
        let m = -Infinity;
        for (let j = 0; j < Nk; j++) {
          kept[j] = !o.keep || o.keep(h, i, j) ? 1 : 0;
          if (!kept[j]) continue;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qo + i * D + d]! * k[ko + j * D + d]!;
          s[j] = dot * scale;
          if (s[j]! > m) m = s[j]!;
        }
        const oo = ((b * H + h) * R + ri) * D;
        let l = 0;
        for (let j = 0; j < Nk; j++) {
          if (!kept[j]) continue;
          const w = sigmoid ? 1 / (1 + Math.exp(-(s[j]! + bias))) : Math.exp(s[j]! - m);
          l += w;
          for (let d = 0; d < D; d++) out[oo + d] += w * v[ko + j * D + d]!;
        }
        // Softmax divides by the row's sum; an empty row stays 0. Sigmoid has no normaliser.
        if (!sigmoid && l > 0) for (let d = 0; d < D; d++) out[oo + d] /= l;
      }
    }
  }
  return out;
}

/** The rows [B, H, rows, D] of a full output [B, H, Nq, D] (to compare a kernel with a row sample). */
export function pickRows(full: ArrayLike<number>, dims: { B: number; H: number; Nq: number; D: number }, rows: readonly number[]): Float64Array {
  const { B, H, Nq, D } = dims;
  const out = new Float64Array(B * H * rows.length * D);
  for (let bh = 0; bh < B * H; bh++) {
    rows.forEach((i, ri) => {
      for (let d = 0; d < D; d++) out[(bh * rows.length + ri) * D + d] = full[(bh * Nq + i) * D + d]!;
    });
  }
  return out;
}

/** max |a - b| (NaN if either has a NaN where the other does not). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`maxAbsDiff: lengths ${a.length} and ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d;
  }
  return m;
}
