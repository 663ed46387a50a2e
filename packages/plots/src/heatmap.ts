import { Figure } from './figure.js';
import { isTensorLike, readTensor, toRows, type Matrix, type TensorLike } from './data.js';

export interface HeatmapOptions {
  /** Column labels (length = columns) and row labels (length = rows). */
  x?: readonly (string | number)[];
  y?: readonly (string | number)[];
  title?: string;
  /** Axis titles (say what the rows and columns are). */
  xTitle?: string;
  yTitle?: string;
  colorscale?: string;
  zmin?: number;
  zmax?: number;
}

function labelsOk(labels: readonly unknown[] | undefined, n: number, axis: string, who: string): void {
  if (labels && labels.length !== n) throw new RangeError(`${who}: ${axis} has ${labels.length} labels for ${n} ${axis === 'x' ? 'columns' : 'rows'}`);
}

export function heatmapFigure(rows: number[][], o: HeatmapOptions = {}): Figure {
  labelsOk(o.x, rows[0]!.length, 'x', 'heatmap');
  labelsOk(o.y, rows.length, 'y', 'heatmap');
  // Labels go through tick text over integer positions: repeated tokens stay separate cells.
  const trace = {
    type: 'heatmap',
    z: rows,
    colorscale: o.colorscale ?? 'Viridis',
    ...(o.zmin !== undefined ? { zmin: o.zmin } : {}),
    ...(o.zmax !== undefined ? { zmax: o.zmax } : {}),
    hovertemplate: `${o.y ? 'row %{customdata[0]}' : 'row %{y}'}<br>${o.x ? 'col %{customdata[1]}' : 'col %{x}'}<br>%{z:.4g}<extra></extra>`,
    ...(o.x || o.y ? { customdata: rows.map((r, i) => r.map((_, j) => [String(o.y?.[i] ?? i), String(o.x?.[j] ?? j)])) } : {}),
  };
  const axis = (labels: readonly (string | number)[] | undefined) => (labels ? { tickmode: 'array', tickvals: labels.map((_, i) => i), ticktext: labels.map(String) } : {});
  return new Figure([trace], {
    ...(o.title ? { title: { text: o.title } } : {}),
    xaxis: { ...axis(o.x), ...(o.xTitle ? { title: { text: o.xTitle } } : {}) },
    yaxis: { autorange: 'reversed', ...axis(o.y), ...(o.yTitle ? { title: { text: o.yTitle } } : {}) },
  }, `Heatmap ${rows.length}x${rows[0]!.length}${o.title ? `: ${o.title}` : ''}`);
}

/** A heatmap of a matrix (row 0 at the top). Given a tensor, reads it back and returns a promise. */
export function heatmap(matrix: Matrix, options?: HeatmapOptions): Figure;
export function heatmap(matrix: TensorLike, options?: HeatmapOptions): Promise<Figure>;
export function heatmap(matrix: Matrix | TensorLike, options: HeatmapOptions = {}): Figure | Promise<Figure> {
  if (isTensorLike(matrix)) return readTensor(matrix).then((m) => heatmapFigure(toRows(m, 'heatmap'), options));
  return heatmapFigure(toRows(matrix, 'heatmap'), options);
}
