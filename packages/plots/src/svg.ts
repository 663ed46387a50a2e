/**
 * A static SVG of a figure, drawn kernel-side by string building (no DOM), so a notebook executed
 * headless still shows its plots where no plotly renderer runs (GitHub, nbviewer, nbconvert).
 * It draws what @attnlab/plots builds: heatmaps (one or a grid of panels, with their colour
 * scale), line/scatter series and bars, with titles, axis titles, tick labels and annotations.
 * The interactive plotly figure stays the one the lab shows.
 */
import type { PlotlySpec, Trace } from './figure.js';

export const SVG_MIME = 'image/svg+xml';

const WIDTH = 720;
const COLORWAY = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const NAMED_SCALES: Record<string, string[]> = {
  Viridis: ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'],
  Blues: ['#f7fbff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5', '#08519c', '#08306b'],
  Greys: ['#ffffff', '#000000'],
  RdBu: ['#053061', '#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#f7f7f7', '#fddbc7', '#f4a582', '#d6604d', '#b2182b', '#67001f'],
};
/**
 * Heatmaps are drawn over at most this many cells in all (and 160 per side in one panel), averaged
 * over blocks beyond that: the SVG of a 12-head grid of long sequences stays near a megabyte.
 */
const MAX_TOTAL_CELLS = 20_000;
const MAX_SIDE = 160;

type Obj = Record<string, unknown>;
type Rgb = [number, number, number];

function esc(s: unknown): string {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function n(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

function text(x: number, y: number, s: unknown, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}" ${attrs}>${esc(s)}</text>`;
}

function titleOf(v: unknown): string | null {
  if (typeof v === 'string') return v;
  const t = (v as { text?: unknown } | undefined)?.text;
  return typeof t === 'string' ? t : null;
}

function parseColor(c: string): Rgb {
  const hex = /^#([0-9a-f]{6})$/i.exec(c);
  if (hex) return [0, 2, 4].map((i) => parseInt(hex[1]!.slice(i, i + 2), 16)) as Rgb;
  const rgb = /^rgba?\(([^)]+)\)$/i.exec(c);
  if (rgb) return rgb[1]!.split(',').slice(0, 3).map((x) => Number(x.trim())) as Rgb;
  return [128, 128, 128];
}

function toHex([r, g, b]: Rgb): string {
  return `#${[r, g, b].map((v) => Math.round(Math.max(0, Math.min(255, v))).toString(16).padStart(2, '0')).join('')}`;
}

/** A colour scale as sorted stops [t in 0..1, rgb]. */
function scaleStops(cs: unknown): [number, Rgb][] {
  if (Array.isArray(cs) && cs.every((s) => Array.isArray(s) && s.length === 2)) return (cs as [number, string][]).map(([t, c]) => [Number(t), parseColor(c)]);
  const list = NAMED_SCALES[typeof cs === 'string' ? cs : 'Viridis'] ?? NAMED_SCALES['Viridis']!;
  return list.map((c, i) => [i / (list.length - 1), parseColor(c)]);
}

function colorAt(stops: [number, Rgb][], t: number): string {
  const u = Math.max(0, Math.min(1, t));
  for (let i = 1; i < stops.length; i++) {
    const [t1, c1] = stops[i]!;
    const [t0, c0] = stops[i - 1]!;
    if (u <= t1) {
      const f = t1 === t0 ? 1 : (u - t0) / (t1 - t0);
      return toHex([0, 1, 2].map((j) => c0[j]! + (c1[j]! - c0[j]!) * f) as Rgb);
    }
  }
  return toHex(stops[stops.length - 1]![1]);
}

/** About five round tick values covering [lo, hi]. */
function niceTicks(lo: number, hi: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Panel {
  xKey: string;
  yKey: string;
  box: Box;
  traces: Trace[];
}

function axisLayout(layout: Obj, key: string): Obj {
  return (layout[key] as Obj | undefined) ?? {};
}

/** `x2` -> `xaxis2`. */
function axisName(ref: unknown, xy: 'x' | 'y'): string {
  const s = typeof ref === 'string' ? ref : xy;
  return `${xy}axis${s.slice(1)}`;
}

function panelsOf(spec: PlotlySpec, plot: Box): Panel[] {
  const byAxes = new Map<string, Panel>();
  for (const t of spec.data) {
    if (t['visible'] === false) continue;
    const xKey = axisName(t['xaxis'], 'x'), yKey = axisName(t['yaxis'], 'y');
    const id = `${xKey}/${yKey}`;
    if (!byAxes.has(id)) {
      const [x0, x1] = ((axisLayout(spec.layout, xKey)['domain'] as number[] | undefined) ?? [0, 1]) as [number, number];
      const [y0, y1] = ((axisLayout(spec.layout, yKey)['domain'] as number[] | undefined) ?? [0, 1]) as [number, number];
      byAxes.set(id, { xKey, yKey, traces: [], box: { x: plot.x + x0 * plot.w, y: plot.y + (1 - y1) * plot.h, w: (x1 - x0) * plot.w, h: (y1 - y0) * plot.h } });
    }
    byAxes.get(id)!.traces.push(t);
  }
  return [...byAxes.values()];
}

/** Tick labels of a categorical axis (tick text over integer positions), at most ~30 shown. */
function categoryTicks(ax: Obj, count: number): { at: number; label: string }[] {
  const vals = (ax['tickvals'] as number[] | undefined) ?? Array.from({ length: count }, (_, i) => i);
  const labels = (ax['ticktext'] as unknown[] | undefined) ?? vals;
  const every = Math.max(1, Math.ceil(vals.length / 30));
  return vals.map((v, i) => ({ at: v, label: String(labels[i] ?? v) })).filter((_, i) => i % every === 0);
}

function heatmapPanel(p: Panel, t: Trace, layout: Obj, out: string[], ctx: Ctx, panels: number): void {
  const z = (t['z'] as (number | null)[][] | undefined) ?? [];
  const R = z.length, C = z[0]?.length ?? 0;
  if (!R || !C) return;
  let lo = Infinity, hi = -Infinity;
  for (const row of z) for (const v of row) if (finite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  const zmin = finite(t['zmin']) ? t['zmin'] : finite(lo) ? lo : 0;
  const zmax = finite(t['zmax']) ? t['zmax'] : finite(hi) ? hi : 1;
  const stops = scaleStops(t['colorscale']);
  const side = Math.max(8, Math.min(MAX_SIDE, Math.floor(Math.sqrt(MAX_TOTAL_CELLS / panels))));
  const fy = Math.ceil(R / side), fx = Math.ceil(C / side);
  const rows = Math.ceil(R / fy), cols = Math.ceil(C / fx);
  const yRev = axisLayout(layout, p.yKey)['autorange'] === 'reversed';
  const cw = p.box.w / C, ch = p.box.h / R;
  for (let r = 0; r < rows; r++) {
    // One rect per run of equal colour in a row: masks and sparse patterns stay small.
    let runStart = 0, runColor: string | null = null;
    const flush = (end: number) => {
      if (runColor === null) return;
      const y = yRev ? p.box.y + r * fy * ch : p.box.y + p.box.h - Math.min(R, (r + 1) * fy) * ch;
      out.push(`<rect x="${n(p.box.x + runStart * fx * cw)}" y="${n(y)}" width="${n(Math.min(C, end * fx) * cw - runStart * fx * cw + 0.3)}" height="${n(Math.min(R, (r + 1) * fy) * ch - r * fy * ch + 0.3)}" fill="${runColor}"/>`);
    };
    for (let c = 0; c <= cols; c++) {
      let color: string | null = null;
      if (c < cols) {
        let sum = 0, cnt = 0;
        for (let i = r * fy; i < Math.min(R, (r + 1) * fy); i++) for (let j = c * fx; j < Math.min(C, (c + 1) * fx); j++) {
          const v = z[i]![j];
          if (finite(v)) (sum += v), cnt++;
        }
        color = cnt ? colorAt(stops, zmax === zmin ? 0.5 : (sum / cnt - zmin) / (zmax - zmin)) : null;
      }
      if (color !== runColor || c === cols) {
        flush(c);
        runStart = c;
        runColor = color;
      }
    }
  }
  if (t['showscale'] !== false) colorBar(t, stops, zmin, zmax, out, ctx);
}

/** One drawing: the plot area and whether the (single) colour bar is drawn yet. */
interface Ctx {
  plot: Box;
  colorBar: boolean;
}

function colorBar(t: Trace, stops: [number, Rgb][], zmin: number, zmax: number, out: string[], ctx: Ctx): void {
  if (ctx.colorBar) return;
  ctx.colorBar = true;
  const bar = (t['colorbar'] as Obj | undefined) ?? {};
  const x = WIDTH - 110, y = ctx.plot.y, h = Math.min(ctx.plot.h, 260), w = 12;
  const id = `cb${Math.abs(hashOf(JSON.stringify(stops)))}`;
  out.push(`<defs><linearGradient id="${id}" x1="0" y1="1" x2="0" y2="0">${stops.map(([s, c]) => `<stop offset="${s}" stop-color="${toHex(c)}"/>`).join('')}</linearGradient></defs>`);
  out.push(`<rect x="${x}" y="${n(y)}" width="${w}" height="${n(h)}" fill="url(#${id})" stroke="#999" stroke-width="0.5"/>`);
  const tv = (bar['tickvals'] as number[] | undefined) ?? niceTicks(zmin, zmax);
  const tt = (bar['ticktext'] as string[] | undefined) ?? tv.map(fmt);
  tv.forEach((v, i) => {
    const yy = y + h - ((v - zmin) / (zmax - zmin || 1)) * h;
    out.push(text(x + w + 3, yy + 3, tt[i], 'font-size="9"'));
  });
}

function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

function numericPanel(p: Panel, layout: Obj, out: string[]): void {
  const yAx = axisLayout(layout, p.yKey);
  const logY = yAx['type'] === 'log';
  const bars = p.traces.filter((t) => t['type'] === 'bar');
  const categories = bars.length ? ((bars[0]!['x'] as unknown[]) ?? []).map(String) : null;
  const xs: number[] = [], ys: number[] = [];
  for (const t of p.traces) {
    const y = (t['y'] as (number | null)[] | undefined) ?? [];
    const x = t['type'] === 'bar' ? y.map((_, i) => i) : ((t['x'] as (number | null)[] | undefined) ?? y.map((_, i) => i));
    x.forEach((v, i) => {
      const yv = y[i];
      if (finite(v) && finite(yv) && (!logY || yv > 0)) (xs.push(v), ys.push(logY ? Math.log10(yv) : yv));
    });
  }
  if (bars.length) ys.push(0);
  if (!xs.length) return;
  let [x0, x1] = [xs.reduce((a, b) => Math.min(a, b)), xs.reduce((a, b) => Math.max(a, b))];
  let [y0, y1] = [ys.reduce((a, b) => Math.min(a, b)), ys.reduce((a, b) => Math.max(a, b))];
  if (categories) (x0 = -0.5), (x1 = categories.length - 0.5);
  if (x1 === x0) (x0 -= 1), (x1 += 1);
  if (y1 === y0) (y0 -= 1), (y1 += 1);
  const pad = (y1 - y0) * 0.05;
  if (!bars.length) y0 -= pad;
  y1 += pad;
  const X = (v: number) => p.box.x + ((v - x0) / (x1 - x0)) * p.box.w;
  const Y = (v: number) => p.box.y + p.box.h - ((v - y0) / (y1 - y0)) * p.box.h;
  // Grid and ticks.
  for (const v of niceTicks(y0, y1)) {
    out.push(`<line x1="${n(p.box.x)}" x2="${n(p.box.x + p.box.w)}" y1="${n(Y(v))}" y2="${n(Y(v))}" stroke="#e5e5e5"/>`);
    out.push(text(p.box.x - 4, Y(v) + 3, fmt(logY ? 10 ** v : v), 'font-size="10" text-anchor="end"'));
  }
  if (categories) {
    const every = Math.max(1, Math.ceil(categories.length / 30));
    categories.forEach((c, i) => i % every === 0 && out.push(text(X(i), p.box.y + p.box.h + 13, c, 'font-size="10" text-anchor="middle"')));
  } else {
    for (const v of niceTicks(x0, x1)) out.push(text(X(v), p.box.y + p.box.h + 13, fmt(v), 'font-size="10" text-anchor="middle"'));
  }
  out.push(`<rect x="${n(p.box.x)}" y="${n(p.box.y)}" width="${n(p.box.w)}" height="${n(p.box.h)}" fill="none" stroke="#bbb"/>`);
  p.traces.forEach((t, ti) => {
    const color = COLORWAY[ti % COLORWAY.length]!;
    const y = (t['y'] as (number | null)[] | undefined) ?? [];
    const tv = (v: number | null | undefined) => (finite(v) && (!logY || v > 0) ? (logY ? Math.log10(v) : v) : null);
    if (t['type'] === 'bar') {
      const bw = (p.box.w / Math.max(1, y.length)) * 0.8;
      y.forEach((v, i) => {
        const yy = tv(v);
        if (yy === null) return;
        const top = Math.min(Y(yy), Y(0)), h = Math.abs(Y(yy) - Y(0));
        out.push(`<rect x="${n(X(i) - bw / 2)}" y="${n(top)}" width="${n(bw)}" height="${n(h)}" fill="${color}"/>`);
      });
      return;
    }
    const x = (t['x'] as (number | null)[] | undefined) ?? y.map((_, i) => i);
    const mode = String(t['mode'] ?? 'lines');
    if (mode.includes('lines')) {
      let d = '', pen = false;
      y.forEach((v, i) => {
        const yy = tv(v), xx = x[i];
        if (yy === null || !finite(xx)) return void (pen = false); // a gap
        d += `${pen ? 'L' : 'M'}${n(X(xx))} ${n(Y(yy))}`;
        pen = true;
      });
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"/>`);
    }
    if (mode.includes('markers')) {
      y.forEach((v, i) => {
        const yy = tv(v), xx = x[i];
        if (yy !== null && finite(xx)) out.push(`<circle cx="${n(X(xx))}" cy="${n(Y(yy))}" r="3" fill="${color}"/>`);
      });
    }
  });
  const named = p.traces.filter((t) => t['type'] !== 'bar');
  if (named.length > 1) {
    named.forEach((t, i) => {
      const ly = p.box.y + 12 + i * 14;
      out.push(`<line x1="${n(p.box.x + p.box.w - 110)}" x2="${n(p.box.x + p.box.w - 94)}" y1="${n(ly - 3)}" y2="${n(ly - 3)}" stroke="${COLORWAY[p.traces.indexOf(t) % COLORWAY.length]}" stroke-width="2"/>`);
      out.push(text(p.box.x + p.box.w - 90, ly, t['name'] ?? `series ${i}`, 'font-size="10"'));
    });
  }
}

function heatmapAxes(p: Panel, t: Trace, layout: Obj, out: string[]): void {
  const z = (t['z'] as unknown[][] | undefined) ?? [];
  const R = z.length, C = z[0]?.length ?? 0;
  const xAx = axisLayout(layout, p.xKey), yAx = axisLayout(layout, p.yKey);
  const yRev = yAx['autorange'] === 'reversed';
  out.push(`<rect x="${n(p.box.x)}" y="${n(p.box.y)}" width="${n(p.box.w)}" height="${n(p.box.h)}" fill="none" stroke="#bbb" stroke-width="0.5"/>`);
  if (xAx['showticklabels'] !== false && C > 0) {
    const angled = xAx['tickangle'] !== undefined && xAx['tickangle'] !== 0;
    for (const { at, label } of categoryTicks(xAx, C)) {
      const x = p.box.x + ((at + 0.5) / C) * p.box.w, y = p.box.y + p.box.h + 12;
      out.push(angled ? text(x, y, label, `font-size="9" text-anchor="end" transform="rotate(-45 ${n(x)} ${n(y)})"`) : text(x, y, label, 'font-size="9" text-anchor="middle"'));
    }
  }
  if (yAx['showticklabels'] !== false && R > 0) {
    for (const { at, label } of categoryTicks(yAx, R)) {
      const frac = (at + 0.5) / R;
      out.push(text(p.box.x - 4, (yRev ? p.box.y + frac * p.box.h : p.box.y + p.box.h - frac * p.box.h) + 3, label, 'font-size="9" text-anchor="end"'));
    }
  }
}

function axisTitles(p: Panel, layout: Obj, out: string[]): void {
  const xt = titleOf(axisLayout(layout, p.xKey)['title']);
  const yt = titleOf(axisLayout(layout, p.yKey)['title']);
  if (xt) out.push(text(p.box.x + p.box.w / 2, p.box.y + p.box.h + 32, xt, 'font-size="11" text-anchor="middle"'));
  if (yt) {
    const x = p.box.x - 40, y = p.box.y + p.box.h / 2;
    out.push(text(x, y, yt, `font-size="11" text-anchor="middle" transform="rotate(-90 ${n(x)} ${n(y)})"`));
  }
}

/** The figure as a standalone SVG document. */
export function figureSVG(spec: PlotlySpec): string {
  const layout = spec.layout as Obj;
  const margin = { l: 60, r: 20, t: 40, b: 50, ...((layout['margin'] as Obj | undefined) ?? {}) } as { l: number; r: number; t: number; b: number };
  const height = finite(layout['height']) ? layout['height'] : 420;
  const heat = spec.data.some((t) => t['type'] === 'heatmap' && t['showscale'] !== false && t['visible'] !== false);
  // Room on the right for the colour bar; axis titles need a little more at the left and bottom.
  const left = Math.max(margin.l, 60), right = Math.max(margin.r, heat ? 150 : 20), bottom = Math.max(margin.b, 50);
  const plot: Box = { x: left, y: margin.t, w: WIDTH - left - right, h: height - margin.t - bottom };
  const ctx: Ctx = { plot, colorBar: false };
  const out: string[] = [];
  const panels = panelsOf(spec, plot);
  const heatPanels = Math.max(1, panels.filter((p) => p.traces.some((t) => t['type'] === 'heatmap')).length);
  for (const p of panels) {
    const heatTraces = p.traces.filter((t) => t['type'] === 'heatmap');
    if (heatTraces.length) {
      for (const t of heatTraces) heatmapPanel(p, t, layout, out, ctx, heatPanels);
      heatmapAxes(p, heatTraces[0]!, layout, out);
    } else numericPanel(p, layout, out);
    axisTitles(p, layout, out);
  }
  for (const a of (layout['annotations'] as Obj[] | undefined) ?? []) {
    if (a['visible'] === false || a['xref'] !== 'paper' || a['yref'] !== 'paper') continue;
    const x = plot.x + Number(a['x']) * plot.w, y = plot.y + (1 - Number(a['y'])) * plot.h;
    out.push(text(x, y - (a['yanchor'] === 'bottom' ? 5 : 0), a['text'], `font-size="12" text-anchor="${a['xanchor'] === 'left' ? 'start' : a['xanchor'] === 'right' ? 'end' : 'middle'}"`));
  }
  const title = titleOf(layout['title']);
  if (title) out.push(text(WIDTH / 2, Math.min(24, margin.t - 10), title, 'font-size="15" text-anchor="middle"'));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${n(height)}" viewBox="0 0 ${WIDTH} ${n(height)}" font-family="Helvetica, Arial, sans-serif" fill="#222"><rect width="100%" height="100%" fill="#fff"/>${out.join('')}</svg>`;
}
