/**
 * @attnlab/plots-extension: renders `application/vnd.plotly.v1+json` with a bundled plotly.js
 * (no CDN) — the figures @attnlab/plots builds in the kernel.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { MIME, PlotlyRenderer } from './renderer.js';

export const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [MIME],
  defaultRank: 5, // ahead of image/png (90) and text: the live figure wins over its own fallback
  createRenderer: (options) => new PlotlyRenderer(options),
};

const extension: IRenderMime.IExtension = {
  id: '@attnlab/plots-extension:plotly',
  description: 'Plotly figures from @attnlab/plots',
  rendererFactory,
  rank: 5,
  dataType: 'json',
};

export default extension;
