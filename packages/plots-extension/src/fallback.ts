/**
 * The PNG fallback: after drawing, the renderer stores a PNG of the figure in the output itself
 * (`image/png` beside the plotly JSON) so an exported or GitHub-rendered notebook still shows
 * it. It is written once per figure version: a redraw of the same data does not rewrite it.
 */
export const PNG = 'image/png';

export function figureKey(spec: unknown): string {
  const s = JSON.stringify(spec);
  // A cheap, stable hash (FNV-1a) of the figure: equal figures need no new PNG.
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return `${s.length}:${h.toString(16)}`;
}

export function needsPng(data: Record<string, unknown>, metadata: Record<string, unknown>, key: string): boolean {
  return typeof data[PNG] !== 'string' || (metadata['attnlab-png-key'] as string | undefined) !== key;
}

export function stripDataUrl(url: string): string {
  const i = url.indexOf(',');
  if (!url.startsWith('data:image/png;base64,') || i < 0) throw new Error('plotly toImage did not return a PNG data URL');
  return url.slice(i + 1);
}
