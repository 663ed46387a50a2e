// The few plotly.js calls the renderer makes (plotly.js-dist-min ships no types).
declare module 'plotly.js-dist-min' {
  export interface PlotlyHTMLElement extends HTMLElement {
    on(event: 'plotly_click', cb: (e: { points: { curveNumber: number }[] }) => void): void;
    removeAllListeners?(event: string): void;
  }
  const Plotly: {
    react(el: HTMLElement, data: unknown[], layout: Record<string, unknown>, config?: Record<string, unknown>): Promise<PlotlyHTMLElement>;
    relayout(el: HTMLElement, patch: Record<string, unknown>): Promise<unknown>;
    restyle(el: HTMLElement, patch: Record<string, unknown>, traces?: number[]): Promise<unknown>;
    toImage(el: HTMLElement, opts: { format: 'png'; width: number; height: number }): Promise<string>;
    purge(el: HTMLElement): void;
    Plots: { resize(el: HTMLElement): void };
  };
  export default Plotly;
}
