import { figureSVG, SVG_MIME } from './svg.js';

/** The plotly mime type our renderer (and JupyterLab's plotly ecosystem) understands. */
export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';
const DISPLAY = Symbol.for('Jupyter.display');

export type Trace = Record<string, unknown> & { type?: string };
export type Layout = Record<string, unknown>;

export interface PlotlySpec {
  data: Trace[];
  layout: Layout;
  config: Record<string, unknown>;
}

/**
 * A figure that displays itself in a notebook (the kernel calls `Symbol.for('Jupyter.display')`).
 * Figures are mutable on purpose: `extend` a training curve and call the display handle's
 * `update(fig)` to redraw it in place.
 */
export class Figure {
  readonly data: Trace[];
  readonly layout: Layout;
  readonly config: Record<string, unknown>;

  constructor(data: Trace[], layout: Layout = {}, private readonly summary = 'Figure') {
    this.data = data;
    this.layout = { margin: { l: 50, r: 20, t: layout['title'] ? 40 : 20, b: 40 }, ...layout };
    // An offline tool: no plotly logo, no "Edit in Chart Studio" / share button.
    this.config = { responsive: true, displaylogo: false, showLink: false, showSendToCloud: false, showEditInChartStudio: false, modeBarButtonsToRemove: ['sendDataToCloud', 'editInChartStudio'] };
  }

  /** Appends points to trace `index` (a live curve). */
  extend(index: number, x: readonly number[], y: readonly number[]): this {
    const t = this.data[index];
    if (!t) throw new RangeError(`Figure.extend: no trace ${index} (the figure has ${this.data.length})`);
    if (x.length !== y.length) throw new RangeError(`Figure.extend: ${x.length} x values but ${y.length} y values`);
    t['x'] = [...((t['x'] as number[] | undefined) ?? []), ...x];
    t['y'] = [...((t['y'] as number[] | undefined) ?? []), ...y.map(finiteOrNull)];
    return this;
  }

  /** Merges layout fields (title, axis ranges, ...). */
  relayout(patch: Layout): this {
    Object.assign(this.layout, patch);
    return this;
  }

  toJSON(): PlotlySpec {
    // Typed arrays and NaN/Infinity do not survive JSON: plain arrays and null (a gap) do.
    return JSON.parse(JSON.stringify({ data: this.data, layout: this.layout, config: this.config }, (_k, v: unknown) => {
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>, finiteOrNull);
      if (typeof v === 'number' && !Number.isFinite(v)) return null;
      return v;
    })) as PlotlySpec;
  }

  /** A static picture of the figure (what GitHub, nbviewer and nbconvert show). */
  toSVG(): string {
    return figureSVG(this.toJSON());
  }

  [DISPLAY](): Record<string, unknown> {
    const spec = this.toJSON();
    return { [PLOTLY_MIME]: spec, [SVG_MIME]: figureSVG(spec), 'text/plain': this.toString() };
  }

  toString(): string {
    return this.summary;
  }
}

export function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}
