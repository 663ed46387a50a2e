/**
 * GNA's tile-occupancy simulator: a block-sparse kernel computes only tiles with at least one
 * kept entry, so its speed-up over the dense kernel is at most (all tiles) / (non-empty tiles).
 * Computed from the 0/1 mask directly; BlockMask.activeTiles() is the kernel's own count.
 */
export interface TileOccupancy {
  tiles: number;
  nonEmpty: number;
  /** Non-empty tiles in which every in-range entry is kept (no per-element masking). */
  full: number;
  /** tiles / nonEmpty (Infinity when nothing is kept). */
  speedupBound: number;
  /** True when every non-empty tile is full: "perfectly block-sparse". */
  perfectlyBlockSparse: boolean;
}

export function tileOccupancy(mask: Uint8Array, nq: number, nk: number, tile: number | [number, number] = 64): TileOccupancy {
  if (mask.length !== nq * nk) throw new RangeError(`tileOccupancy: mask has ${mask.length} entries, expected ${nq} x ${nk}`);
  const [tq, tk] = Array.isArray(tile) ? tile : [tile, tile];
  if (!(Number.isInteger(tq) && tq > 0 && Number.isInteger(tk) && tk > 0)) throw new RangeError(`tileOccupancy: tile must be positive integers, got ${String(tile)}`);
  const nQB = Math.ceil(nq / tq);
  const nKB = Math.ceil(nk / tk);
  let nonEmpty = 0;
  let full = 0;
  for (let a = 0; a < nQB; a++) for (let c = 0; c < nKB; c++) {
    let kept = 0;
    let total = 0;
    for (let q = a * tq; q < Math.min(nq, (a + 1) * tq); q++) for (let k = c * tk; k < Math.min(nk, (c + 1) * tk); k++) {
      kept += mask[q * nk + k]!;
      total++;
    }
    if (kept > 0) nonEmpty++;
    if (kept > 0 && kept === total) full++;
  }
  const tiles = nQB * nKB;
  return { tiles, nonEmpty, full, speedupBound: nonEmpty ? tiles / nonEmpty : Infinity, perfectlyBlockSparse: nonEmpty > 0 && full === nonEmpty };
}
