import { Figure, type Trace } from './figure.js';
import { isTensorLike, readTensor, toCube, type Cube, type TensorLike } from './data.js';

export interface AttentionPlotOptions {
  /** Which heads to show (indices into the first axis); default all. */
  heads?: readonly number[];
  /** Query tokens when they differ from the keys' (decode: the last Nq keys by default). */
  queryTokens?: readonly string[];
  title?: string;
  /** Columns of the head grid; default ceil(sqrt(heads)). */
  cols?: number;
}

/** Layout metadata our renderer reads to offer click-to-enlarge on a head. */
export interface AttentionGridMeta {
  kind: 'attention-grid';
  heads: number[];
  rows: number;
  cols: number;
}

export function attentionFigure(cube: number[][][], tokens: readonly string[], o: AttentionPlotOptions = {}): Figure {
  const H = cube.length;
  const Nq = cube[0]!.length;
  const Nk = cube[0]![0]!.length;
  if (tokens.length !== Nk) throw new RangeError(`attention plot: ${tokens.length} tokens for ${Nk} keys`);
  const qTokens = o.queryTokens ?? tokens.slice(Nk - Nq);
  if (qTokens.length !== Nq) throw new RangeError(`attention plot: ${qTokens.length} query tokens for ${Nq} queries`);
  const heads = [...(o.heads ?? cube.map((_, h) => h))];
  for (const h of heads) if (!Number.isInteger(h) || h < 0 || h >= H) throw new RangeError(`attention plot: head ${h} out of range (the probabilities have ${H} heads)`);
  if (heads.length === 0) throw new RangeError('attention plot: no heads to show');
  const cols = o.cols ?? Math.ceil(Math.sqrt(heads.length));
  const rows = Math.ceil(heads.length / cols);
  // Sizes in pixels, then paper fractions: each row is a head title over its panel. Tokens label
  // only the outer panels (x under each column's last panel, y on the first column; hover names
  // every cell), so with many heads no tick labels run into the next row's titles.
  const xLabels = Nk <= 24, yLabels = Nq <= 24;
  const panelPx = 220, titlePx = 22, xTickPx = xLabels ? 44 : 0;
  const slotPx = panelPx + titlePx + xTickPx;
  const plotPx = rows * slotPx - xTickPx;
  const margin = { l: yLabels ? 56 : 30, r: 20, t: o.title ? 44 : 8, b: xTickPx + 16 };
  const gapX = 0.03;
  const layout: Record<string, unknown> = {
    ...(o.title ? { title: { text: o.title } } : {}),
    height: plotPx + margin.t + margin.b,
    margin,
    annotations: [] as unknown[],
  };
  const customdata = qTokens.map((q) => tokens.map((k) => [q, k]));
  const data: Trace[] = heads.map((h, i) => {
    const r = Math.floor(i / cols);
    const c = i % cols;
    const ax = i === 0 ? '' : String(i + 1);
    const x0 = c / cols + gapX / 2, x1 = (c + 1) / cols - gapX / 2;
    const y1 = 1 - (r * slotPx + titlePx) / plotPx, y0 = Math.max(0, 1 - (r * slotPx + titlePx + panelPx) / plotPx);
    const bottomOfColumn = i + cols >= heads.length;
    layout[`xaxis${ax}`] = { domain: [x0, x1], anchor: `y${ax}`, showticklabels: xLabels && bottomOfColumn, tickmode: 'array', tickvals: tokens.map((_, k) => k), ticktext: [...tokens], tickangle: -45 };
    layout[`yaxis${ax}`] = { domain: [y0, y1], anchor: `x${ax}`, autorange: 'reversed', showticklabels: yLabels && c === 0, tickmode: 'array', tickvals: qTokens.map((_, q) => q), ticktext: [...qTokens] };
    (layout['annotations'] as unknown[]).push({ text: `head ${h}`, x: (x0 + x1) / 2, y: y1, xref: 'paper', yref: 'paper', xanchor: 'center', yanchor: 'bottom', showarrow: false, font: { size: 12 } });
    return {
      type: 'heatmap', z: cube[h]!, xaxis: `x${ax}`, yaxis: `y${ax}`, zmin: 0, zmax: 1, colorscale: [[0, '#f7fbff'], [0.5, '#6baed6'], [1, '#08306b']], showscale: i === 0, name: `head ${h}`,
      customdata, hovertemplate: `head ${h}<br>%{customdata[0]} → %{customdata[1]}<br>weight %{z:.4f}<extra></extra>`,
    };
  });
  const meta: AttentionGridMeta = { kind: 'attention-grid', heads, rows, cols };
  layout['meta'] = { attnlab: meta };
  return new Figure(data, layout, `Attention ${heads.length} heads, ${Nq}x${Nk}${o.title ? `: ${o.title}` : ''}`);
}

/**
 * A grid of attention patterns, one panel per head: hover shows query token → key token and the
 * weight; in the lab, clicking a head enlarges it (click again to go back).
 */
export function attention(probs: Cube, tokens: readonly string[], options?: AttentionPlotOptions): Figure;
export function attention(probs: TensorLike, tokens: readonly string[], options?: AttentionPlotOptions): Promise<Figure>;
export function attention(probs: Cube | TensorLike, tokens: readonly string[], options: AttentionPlotOptions = {}): Figure | Promise<Figure> {
  if (isTensorLike(probs)) return readTensor(probs).then((c) => attentionFigure(toCube(c, 'attention plot'), tokens, options));
  return attentionFigure(toCube(probs, 'attention plot'), tokens, options);
}
