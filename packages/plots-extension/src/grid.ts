/**
 * DOM-free logic of the attention head grid: which head a click hit, and the figure that shows
 * one head enlarged (its axes take the whole plot, with both tick label sets) or the grid.
 *
 * Every view is built from a deep copy of the figure as the kernel sent it: plotly mutates the
 * layout objects it is given, so patching the drawn layout lost the grid's domains (a second
 * click could not restore it).
 */
export interface GridMeta {
  kind: 'attention-grid';
  heads: number[];
  rows: number;
  cols: number;
}

export type Layout = Record<string, unknown>;
export type Trace = Record<string, unknown>;

export function gridMeta(layout: Layout | undefined): GridMeta | null {
  const m = (layout?.['meta'] as { attnlab?: GridMeta } | undefined)?.attnlab;
  return m && m.kind === 'attention-grid' && Array.isArray(m.heads) ? m : null;
}

function axisKey(i: number, xy: 'x' | 'y'): string {
  return `${xy}axis${i === 0 ? '' : i + 1}`;
}

function copy<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/**
 * The data and layout to draw: the figure as sent (no grid, or panel null) or panel `panel` alone
 * over the whole plot.
 * Always fresh objects, never the ones passed in.
 */
export function gridView(data: readonly Trace[], layout: Layout, meta: GridMeta | null, panel: number | null): { data: Trace[]; layout: Layout } {
  const d = copy(data) as Trace[];
  const l = copy(layout);
  if (meta === null || panel === null) return { data: d, layout: l };
  meta.heads.forEach((_, i) => {
    const show = i === panel;
    if (d[i]) Object.assign(d[i]!, { visible: show, showscale: show });
    for (const xy of ['x', 'y'] as const) {
      const ax = (l[axisKey(i, xy)] ?? {}) as Record<string, unknown>;
      l[axisKey(i, xy)] = show
        ? { ...ax, domain: [0, 1], visible: true, showticklabels: Array.isArray(ax['ticktext']) && (ax['ticktext'] as unknown[]).length <= 48 }
        : { ...ax, visible: false };
    }
  });
  const ann = (l['annotations'] as Record<string, unknown>[] | undefined) ?? [];
  l['annotations'] = ann.map((a, i) => (i === panel ? { ...a, x: 0.5, y: 1, visible: true } : { ...a, visible: false }));
  return { data: d, layout: l };
}

/** The panel a clicked trace belongs to (trace i is head panel i). */
export function panelOfCurve(meta: GridMeta, curveNumber: number): number | null {
  return curveNumber >= 0 && curveNumber < meta.heads.length ? curveNumber : null;
}
