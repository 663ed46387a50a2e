/** DOM-free helpers of the attention explorer view. */

/** Row `q` of head (layer, head) in a [L, H, N, N] pattern array. */
export function patternRow(p: Float32Array, shape: readonly number[], layer: number, head: number, q: number): Float32Array {
  const [L, H, N] = shape as [number, number, number];
  if (layer < 0 || layer >= L || head < 0 || head >= H || q < 0 || q >= N) throw new RangeError(`no row ${q} of layer ${layer} head ${head} in patterns [${shape.join(', ')}]`);
  const off = ((layer * H + head) * N + q) * N;
  return p.subarray(off, off + N);
}

/** Column `k` (who attends to key k) of head (layer, head). */
export function patternColumn(p: Float32Array, shape: readonly number[], layer: number, head: number, k: number): Float32Array {
  const [, H, N] = shape as [number, number, number];
  const out = new Float32Array(N);
  for (let q = 0; q < N; q++) out[q] = p[((layer * H + head) * N + q) * N + k]!;
  return out;
}

/** Background for a weight in [0, 1]: stronger attention, deeper blue (readable in light and dark themes). */
export function weightColor(w: number): string {
  const a = Math.max(0, Math.min(1, w));
  return `rgba(33, 113, 181, ${(0.08 + 0.85 * a).toFixed(3)})`;
}
