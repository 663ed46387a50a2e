/**
 * Float64 reference for streaming decode through a sinks + window cache (one head): for each
 * query t the held keys are {j ≤ t : j < S ∨ j > t − W}; with positions 'absolute' queries and
 * keys are rotated (RoPE, halves convention) at their original positions, with 'cache' at their
 * index among the held keys (StreamingLLM's re-indexing).
 */

/** Rotate one row (length D, halves convention: pairs (i, i + D/2)) at position pos. */
export function ropeRow(x: ArrayLike<number>, pos: number, base: number): Float64Array {
  const D = x.length;
  const h = D / 2;
  const out = new Float64Array(D);
  for (let i = 0; i < h; i++) {
    const a = pos * Math.pow(base, (-2 * i) / D);
    const c = Math.cos(a);
    const s = Math.sin(a);
    out[i] = Number(x[i]) * c - Number(x[i + h]) * s;
    out[i + h] = Number(x[i + h]) * c + Number(x[i]) * s;
  }
  return out;
}

/** Positions held for the query at t under sinks + window. */
export function heldPositions(t: number, sinks: number, window: number): number[] {
  const out: number[] = [];
  for (let j = 0; j <= t; j++) if (j < sinks || j > t - window) out.push(j);
  return out;
}

export interface NaiveStreamOptions {
  T: number;
  D: number;
  sinks: number;
  window: number;
  positions: 'absolute' | 'cache';
  /** RoPE base; null: no rotation (keys and queries used as given). */
  base: number | null;
  scale?: number;
}

/** q, k, v: [T, D] unrotated rows of one head. Returns the decode outputs [T, D]. */
export function naiveStreamingAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, o: NaiveStreamOptions): Float64Array {
  const { T, D } = o;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const row = (a: ArrayLike<number>, i: number): Float64Array => Float64Array.from({ length: D }, (_, d) => Number(a[i * D + d]));
  const out = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    const held = heldPositions(t, o.sinks, o.window);
    const at = (p: number, idx: number): number => (o.positions === 'cache' ? idx : p);
    const qt = o.base === null ? row(q, t) : ropeRow(row(q, t), at(t, held.length - 1), o.base);
    const s = held.map((j, idx) => {
      const kj = o.base === null ? row(k, j) : ropeRow(row(k, j), at(j, idx), o.base);
      let dot = 0;
      for (let d = 0; d < D; d++) dot += qt[d]! * kj[d]!;
      return dot * scale;
    });
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, b) => a + b, 0);
    held.forEach((j, idx) => {
      for (let d = 0; d < D; d++) out[t * D + d] += (e[idx]! / z) * Number(v[j * D + d]);
    });
  }
  return out;
}
