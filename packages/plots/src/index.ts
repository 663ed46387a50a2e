/**
 * @attnlab/plots — figure builders for notebooks. Each returns a Figure that displays itself as
 * `application/vnd.plotly.v1+json` (rendered by @attnlab/plots-extension in the lab, by any
 * plotly renderer elsewhere). No DOM here: this runs in the kernel.
 */
export { Figure, PLOTLY_MIME, type Trace, type Layout, type PlotlySpec } from './figure.js';
export { heatmap, type HeatmapOptions } from './heatmap.js';
export { attention, type AttentionPlotOptions, type AttentionGridMeta } from './attention-grid.js';
export { mask, type BlockMaskLike } from './mask.js';
export { figureSVG, SVG_MIME } from './svg.js';
export { line, scatter, bar, type Series, type ChartOptions } from './charts.js';
export type { Matrix, Cube, TensorLike } from './data.js';
