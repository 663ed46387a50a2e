/** Shards by enumeration: for head h, the keys j in 0..n-1 with (j + offset) mod H = h. */
export function naiveShards(n: number, H: number, offset = 0): Uint8Array[] {
  const out = Array.from({ length: H }, () => new Uint8Array(n * n));
  for (let q = 0; q < n; q++) {
    for (let j = 0; j <= q; j++) out[(j + offset) % H]![q * n + j] = 1;
  }
  return out;
}

/** Union (OR) over heads and each head's density relative to the dense causal mask. */
export function shardStats(masks: readonly Uint8Array[], n: number): { unionIsCausal: boolean; overlaps: number; relDensity: number[] } {
  const causalCount = (n * (n + 1)) / 2;
  let unionIsCausal = true;
  let overlaps = 0;
  for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) {
    let c = 0;
    for (const m of masks) c += m[q * n + k]!;
    if ((c > 0) !== (k <= q)) unionIsCausal = false;
    if (c > 1) overlaps++;
  }
  const relDensity = masks.map((m) => m.reduce((a, b) => a + b, 0) / causalCount);
  return { unionIsCausal, overlaps, relDensity };
}
