/** A heatmap of a 2-D patching grid ([layers, heads] or [layers, positions]), restored share 0..1. */
import { heatmap, type Figure } from '@attnlab/plots';
import { HeadsError } from '../errors.js';
import type { PatchingGrid } from './patching.js';

export function patchingPlot(g: PatchingGrid, options: { title?: string; positionLabels?: readonly string[] } = {}): Figure {
  if (g.shape.length !== 2) throw new HeadsError('patchingPlot', `expected a 2-D grid ([layers, heads] or [layers, positions]), got [${g.shape.join(', ')}]: plot one head's or one layer's slice`);
  const [R, C] = g.shape as [number, number];
  if (options.positionLabels && options.positionLabels.length !== C) throw new HeadsError('patchingPlot', `${options.positionLabels.length} position labels for ${C} positions`);
  const rows = Array.from({ length: R }, (_, r) => Array.from(g.values.subarray(r * C, (r + 1) * C)));
  const byHead = g.dims[1] === 'head';
  let span = 1;
  for (const v of g.values) if (Number.isFinite(v)) span = Math.max(span, Math.abs(v));
  return heatmap(rows, {
    x: byHead ? Array.from({ length: C }, (_, h) => `H${h}`) : [...(options.positionLabels ?? Array.from({ length: C }, (_, p) => String(p)))],
    y: Array.from({ length: R }, (_, l) => `L${l}`),
    xTitle: byHead ? 'head' : 'position', yTitle: 'layer',
    // Diverging, symmetric about 0 (the corrupted run): a patch can also make it worse.
    colorscale: 'RdBu', zmin: -span, zmax: span,
    title: options.title ?? `restored share, patching ${g.site} (0 = corrupted, 1 = clean)`,
  });
}
