/**
 * DOM-free logic of the attention head grid: which head a click hit, and the layout that
 * enlarges one head (its axes take the whole plot, the others are hidden) or restores the grid.
 */
export interface GridMeta {
  kind: 'attention-grid';
  heads: number[];
  rows: number;
  cols: number;
}

export type Layout = Record<string, unknown>;

export function gridMeta(layout: Layout | undefined): GridMeta | null {
  const m = (layout?.['meta'] as { attnlab?: GridMeta } | undefined)?.attnlab;
  return m && m.kind === 'attention-grid' && Array.isArray(m.heads) ? m : null;
}

function axisKey(i: number, xy: 'x' | 'y'): string {
  return `${xy}axis${i === 0 ? '' : i + 1}`;
}

/** A layout patch (for Plotly.relayout) showing panel `panel` alone, or all panels when null. */
export function enlargePatch(original: Layout, meta: GridMeta, panel: number | null): Layout {
  const patch: Layout = {};
  meta.heads.forEach((_, i) => {
    for (const xy of ['x', 'y'] as const) {
      const key = axisKey(i, xy);
      const orig = (original[key] as { domain?: number[] } | undefined)?.domain ?? [0, 1];
      const show = panel === null || panel === i;
      patch[`${key}.domain`] = panel === i ? [0, 1] : show ? orig : [0, 0.001];
      patch[`${key}.visible`] = show;
    }
  });
  const ann = (original['annotations'] as { x: number; y: number }[] | undefined) ?? [];
  ann.forEach((a, i) => {
    const show = panel === null || panel === i;
    patch[`annotations[${i}].visible`] = show;
    patch[`annotations[${i}].x`] = panel === i ? 0.5 : a.x;
    patch[`annotations[${i}].y`] = panel === i ? 1 : a.y;
  });
  return patch;
}

/** Traces to hide while one panel is enlarged. */
export function visibleTraces(meta: GridMeta, panel: number | null): boolean[] {
  return meta.heads.map((_, i) => panel === null || panel === i);
}

/** The panel a clicked trace belongs to (trace i is head panel i). */
export function panelOfCurve(meta: GridMeta, curveNumber: number): number | null {
  return curveNumber >= 0 && curveNumber < meta.heads.length ? curveNumber : null;
}
