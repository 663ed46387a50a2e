/**
 * Float64 reference for FlexPrefill's vertical-slash tiles, by enumeration: a (q, k) entry is
 * selected when its column or its offset is selected; a tile is kept when it holds a selected
 * causal entry, or is the diagonal tile. (plan.ts finds the same tiles by interval arithmetic.)
 */
export function naiveVerticalSlashTiles(cols: ReadonlySet<number>, offs: ReadonlySet<number>, nq: number, nk: number, bs: number): Int32Array {
  const nQB = Math.ceil(nq / bs);
  const nKB = Math.ceil(nk / bs);
  const off = nk - nq;
  const t = new Int32Array(nQB * nKB);
  for (let i = 0; i < nq; i++) {
    const pos = i + off;
    if (pos < 0) continue;
    for (let j = 0; j <= Math.min(nk - 1, pos); j++) if (cols.has(j) || offs.has(pos - j)) t[Math.floor(i / bs) * nKB + Math.floor(j / bs)] = 1;
  }
  for (let qb = 0; qb < nQB; qb++) {
    const last = Math.min(nKB - 1, Math.floor((Math.min(nq - 1, qb * bs + bs - 1) + off) / bs));
    if (last >= 0) t[qb * nKB + last] = 1;
  }
  return t;
}
