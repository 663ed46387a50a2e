/**
 * Static causal patterns as 0/1 [n, n] matrices, for the reachability comparisons: sliding
 * window, dilated window, strided (local + every stride-th column, Sparse Transformer style).
 */
function build(n: number, keep: (q: number, k: number) => boolean): Uint8Array {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`pattern: n must be a positive integer, got ${n}`);
  const m = new Uint8Array(n * n);
  for (let q = 0; q < n; q++) for (let k = 0; k <= q; k++) if (keep(q, k)) m[q * n + k] = 1;
  return m;
}

/** Keys q-w+1..q. */
export const slidingPattern = (n: number, w: number): Uint8Array => build(n, (q, k) => q - k < w);
/** Keys q - r·m for m = 0..w-1. */
export const dilatedPattern = (n: number, w: number, r: number): Uint8Array => build(n, (q, k) => (q - k) % r === 0 && (q - k) / r < w);
/** Keys q-w+1..q plus every key k with (q - k) a multiple of stride. */
export const stridedPattern = (n: number, w: number, stride: number): Uint8Array => build(n, (q, k) => q - k < w || (q - k) % stride === 0);
/** Kept entries per row (the per-row key budget), averaged. */
export function meanRowBudget(m: Uint8Array, n: number): number {
  return m.reduce((a, b) => a + b, 0) / n;
}
