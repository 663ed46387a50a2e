/** Figures for [layers, heads] scores and ablation results (@attnlab/plots builders). */
import { Figure, heatmap } from '@attnlab/plots';
import type { Tensor } from '@attnlab/tensor';
import { HeadsError } from '../errors.js';

export interface ScorePlotOptions {
  title?: string;
  zmin?: number;
  zmax?: number;
  colorscale?: string;
}

/** A layers x heads heatmap of a score (rows L0.., columns H0..). */
export async function scorePlot(score: Tensor, options: ScorePlotOptions = {}): Promise<Figure> {
  if (score.rank !== 2) throw new HeadsError('scorePlot', `expected a [layers, heads] score, got [${score.shape.join(', ')}]`);
  const [L, H] = score.shape as [number, number];
  return heatmap(score, {
    x: Array.from({ length: H }, (_, h) => `H${h}`),
    y: Array.from({ length: L }, (_, l) => `L${l}`),
    xTitle: 'head', yTitle: 'layer',
    ...options,
  });
}

/** Bars with asymmetric error bars (a value and its [lo, hi] interval per label). */
export function barsWithCI(labels: readonly string[], values: readonly number[], ci: readonly (readonly [number, number])[], options: { title?: string; yTitle?: string } = {}): Figure {
  if (labels.length !== values.length || labels.length !== ci.length) throw new HeadsError('barsWithCI', `${labels.length} labels, ${values.length} values and ${ci.length} intervals`);
  const trace = {
    type: 'bar', x: [...labels], y: [...values],
    error_y: { type: 'data', symmetric: false, array: values.map((v, i) => ci[i]![1] - v), arrayminus: values.map((v, i) => v - ci[i]![0]) },
  };
  return new Figure([trace], {
    ...(options.title ? { title: { text: options.title } } : {}),
    ...(options.yTitle ? { yaxis: { title: { text: options.yTitle } } } : {}),
  }, `Bar chart with intervals, ${values.length} bars${options.title ? `: ${options.title}` : ''}`);
}
