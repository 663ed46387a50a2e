import { heatmapFigure } from './heatmap.js';
import type { Figure } from './figure.js';

/** What `mask()` needs of @attnlab/attention's BlockMask (structural: plots does not depend on it). */
export interface BlockMaskLike {
  readonly Nq: number;
  readonly Nk: number;
  readonly qBlock: number;
  readonly kBlock: number;
  readonly nQB: number;
  toDense(b?: number, h?: number): Uint8Array;
  density(): number;
  kvBlocks?(b: number, h: number, qb: number): { partial: ArrayLike<number>; full: ArrayLike<number> };
}

/**
 * A block mask as the kernel sees it: each cell is 0 (tile skipped), 1 (masked out inside a
 * partial tile), 2 (kept inside a partial tile: mask evaluated) or 3 (full tile: no evaluation).
 */
export function mask(bm: BlockMaskLike, options: { b?: number; h?: number; title?: string } = {}): Figure {
  const { b = 0, h = 0 } = options;
  const dense = bm.toDense(b, h);
  const z = Array.from({ length: bm.Nq }, (_, q) => Array.from({ length: bm.Nk }, (_, k): number => (dense[q * bm.Nk + k] ? 2 : 0)));
  if (bm.kvBlocks) {
    for (let qb = 0; qb < bm.nQB; qb++) {
      const { partial, full } = bm.kvBlocks(b, h, qb);
      const q0 = qb * bm.qBlock, q1 = Math.min(q0 + bm.qBlock, bm.Nq);
      const mark = (kb: number, fullTile: boolean) => {
        for (let q = q0; q < q1; q++) for (let k = kb * bm.kBlock; k < Math.min((kb + 1) * bm.kBlock, bm.Nk); k++) z[q]![k] = fullTile ? 3 : z[q]![k] ? 2 : 1;
      };
      Array.from(partial).forEach((kb) => mark(kb, false));
      Array.from(full).forEach((kb) => mark(kb, true));
    }
  }
  const title = options.title ?? `block mask (b=${b}, h=${h}), ${bm.qBlock}x${bm.kBlock} tiles, density ${bm.density().toFixed(3)}`;
  const fig = heatmapFigure(z, { title, zmin: 0, zmax: 3, xTitle: 'key position', yTitle: 'query position' });
  const t = fig.data[0]!;
  t['colorscale'] = [[0, '#f4f4f4'], [0.33, '#f4f4f4'], [0.33, '#fdd0a2'], [0.5, '#fdd0a2'], [0.5, '#6baed6'], [0.83, '#6baed6'], [0.83, '#08519c'], [1, '#08519c']];
  t['colorbar'] = { tickvals: [0.375, 1.125, 1.875, 2.625], ticktext: ['skipped tile', 'masked (partial)', 'kept (partial)', 'full tile'] };
  t['hovertemplate'] = 'query %{y}<br>key %{x}<br>%{text}<extra></extra>';
  t['text'] = z.map((r) => r.map((v) => ['skipped tile', 'masked in partial tile', 'kept in partial tile', 'full tile'][v]));
  return fig;
}
