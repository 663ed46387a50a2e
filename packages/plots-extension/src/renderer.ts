import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';
import type { PlotlyHTMLElement } from 'plotly.js-dist-min';
import { gridMeta, gridView, panelOfCurve, type Layout, type Trace } from './grid.js';
import { figureKey, needsPng, PNG, stripDataUrl } from './fallback.js';
import { plotlyConfig } from './config.js';

export const MIME = 'application/vnd.plotly.v1+json';

type PlotlyApi = typeof import('plotly.js-dist-min').default;
let plotly: Promise<PlotlyApi> | null = null;
/** plotly.js loads on the first figure, not with the lab (it is 4.6 MB). */
function loadPlotly(): Promise<PlotlyApi> {
  plotly ??= import(/* webpackChunkName: "plotly" */ 'plotly.js-dist-min').then((m) => m.default);
  return plotly;
}

interface Spec {
  data: Trace[];
  layout?: Layout;
  config?: Record<string, unknown>;
}

/**
 * Draws a plotly figure. `renderModel` runs again on update_display_data with the new data:
 * Plotly.react diffs against what is drawn, so a live training curve redraws in place.
 */
export class PlotlyRenderer extends Widget implements IRenderMime.IRenderer {
  private drawn = false;
  private enlarged: number | null = null;
  private spec: Spec | null = null;

  constructor(private readonly options: IRenderMime.IRendererOptions) {
    super();
    this.addClass('attnlab-plotly');
    this.node.style.minHeight = '240px';
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const spec = model.data[this.options.mimeType] as unknown as Spec | undefined;
    if (!spec || !Array.isArray(spec.data)) {
      this.node.textContent = `attnlab plots: the ${MIME} output has no data array`;
      return;
    }
    this.spec = spec;
    this.enlarged = null;
    const Plotly = await loadPlotly();
    // Plotly keeps and mutates what it is given: it draws a copy, so `spec` stays the figure as sent.
    const view = gridView(spec.data, spec.layout ?? {}, null, null);
    this.node.dataset['enlarged'] = '';
    const el = await Plotly.react(this.node, view.data, { autosize: true, ...view.layout }, plotlyConfig(spec.config));
    if (!this.drawn) {
      this.drawn = true;
      el.on('plotly_click', (e) => void this.toggle(el, e.points[0]?.curveNumber ?? -1));
    }
    await this.writePng(model, spec);
  }

  /** Click a head: it alone fills the plot; click again: the grid comes back. */
  private async toggle(el: PlotlyHTMLElement, curve: number): Promise<void> {
    const meta = gridMeta(this.spec?.layout);
    if (!meta || !this.spec) return;
    const Plotly = await loadPlotly();
    this.enlarged = this.enlarged === null ? panelOfCurve(meta, curve) : null;
    const view = gridView(this.spec.data, this.spec.layout ?? {}, meta, this.enlarged);
    this.node.dataset['enlarged'] = this.enlarged === null ? '' : String(this.enlarged);
    await Plotly.react(el, view.data, { autosize: true, ...view.layout }, plotlyConfig(this.spec.config));
  }

  private async writePng(model: IRenderMime.IMimeModel, spec: Spec): Promise<void> {
    const key = figureKey(spec);
    if (!needsPng(model.data as Record<string, unknown>, model.metadata as Record<string, unknown>, key)) return;
    if (!this.node.isConnected || this.node.clientWidth === 0) return; // not laid out yet (hidden tab)
    try {
      const Plotly = await loadPlotly();
      const png = stripDataUrl(await Plotly.toImage(this.node, { format: 'png', width: this.node.clientWidth, height: this.node.clientHeight || 400 }));
      model.setData({ data: { ...model.data, [PNG]: png }, metadata: { ...model.metadata, 'attnlab-png-key': key } });
    } catch (e) {
      console.warn('attnlab plots: no PNG fallback for this figure:', e);
    }
  }

  protected override onResize(): void {
    if (this.drawn) void loadPlotly().then((P) => P.Plots.resize(this.node));
  }

  protected override onAfterShow(): void {
    if (this.drawn) void loadPlotly().then((P) => P.Plots.resize(this.node));
  }

  override dispose(): void {
    if (this.drawn) void loadPlotly().then((P) => P.purge(this.node));
    super.dispose();
  }
}
