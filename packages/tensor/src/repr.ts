/**
 * How a tensor reads in a notebook: its values as PyTorch/NumPy print them (one width for every
 * entry, 4 decimals or scientific notation when the magnitudes call for it, big tensors cut to
 * their first and last 3 entries per dimension with `...`), under a header line with dtype,
 * shape, device and requiresGrad. Text for text/plain and a table for text/html.
 */
import type { AnyTypedArray, DType } from './dtype.js';

/** Tensors with more elements than this are summarised (PyTorch's default threshold). */
export const SUMMARY_THRESHOLD = 1000;
/** Entries kept at each end of a summarised dimension. */
export const EDGE_ITEMS = 3;
const LINE_WIDTH = 80;

export interface ReprInput {
  header: string;
  dtype: DType;
  shape: readonly number[];
}

/** Which indices of a dimension of size n are shown (-1 marks the `...`). */
function shown(n: number, summarise: boolean): number[] {
  if (!summarise || n <= 2 * EDGE_ITEMS) return Array.from({ length: n }, (_, i) => i);
  return [...Array.from({ length: EDGE_ITEMS }, (_, i) => i), -1, ...Array.from({ length: EDGE_ITEMS }, (_, i) => n - EDGE_ITEMS + i)];
}

/** A number formatter shared by every entry shown, so columns line up. */
function numberFormat(values: number[], dtype: DType): (v: number) => string {
  if (dtype === 'int32') return (v) => String(v);
  const finite = values.filter((v) => Number.isFinite(v));
  const special = (v: number): string | null => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : null);
  if (finite.length && finite.every((v) => Number.isInteger(v)) && Math.max(...finite.map(Math.abs)) < 1e8) {
    return (v) => special(v) ?? `${v}.`;
  }
  const abs = finite.map(Math.abs).filter((v) => v > 0);
  const max = abs.length ? Math.max(...abs) : 0;
  const min = abs.length ? Math.min(...abs) : 0;
  const sci = max >= 1e8 || (min > 0 && min < 1e-4) || (min > 0 && max / min > 1000);
  return (v) => special(v) ?? (sci ? v.toExponential(4).replace(/e([+-])(\d)$/, 'e$10$2') : v.toFixed(4));
}

/** Values of the shown entries, in row-major order (for the shared number format). */
function collect(data: AnyTypedArray, shape: readonly number[], summarise: boolean): number[] {
  const out: number[] = [];
  const walk = (dim: number, offset: number): void => {
    if (dim === shape.length) {
      out.push(data[offset]!);
      return;
    }
    const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    for (const i of shown(shape[dim]!, summarise)) if (i >= 0) walk(dim + 1, offset + i * stride);
  };
  walk(0, 0);
  return out;
}

/** The values as nested brackets, PyTorch style: `[[1.0000, 2.0000],\n [3.0000, 4.0000]]`. */
export function formatValues(data: AnyTypedArray, shape: readonly number[], dtype: DType): string {
  const size = shape.reduce((a, b) => a * b, 1);
  const summarise = size > SUMMARY_THRESHOLD;
  const fmt = numberFormat(collect(data, shape, summarise), dtype);
  if (shape.length === 0) return fmt(data[0]!);
  const all = collect(data, shape, summarise).map(fmt);
  const width = Math.max(...all.map((s) => s.length), summarise ? 3 : 1);
  const cell = (v: number): string => fmt(v).padStart(width);
  const block = (dim: number, offset: number, indent: number): string => {
    const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    const idx = shown(shape[dim]!, summarise);
    if (dim === shape.length - 1) {
      const items = idx.map((i) => (i < 0 ? ' ...' : cell(data[offset + i]!)));
      // Wrap long rows at the line width, continuing under the first entry.
      const perLine = Math.max(1, Math.floor((LINE_WIDTH - indent - 2) / (width + 2)));
      const lines: string[] = [];
      for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
      return `[${lines.join(`,\n${' '.repeat(indent + 1)}`)}]`;
    }
    const parts = idx.map((i) => (i < 0 ? '...' : block(dim + 1, offset + i * stride, indent + 1)));
    const gap = ',' + '\n'.repeat(shape.length - dim - 1) + ' '.repeat(indent + 1);
    return `[${parts.join(gap)}]`;
  };
  return block(0, 0, 0);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** text/plain and text/html of a tensor; `data` null means the values are not readable right now. */
export function tensorBundle(t: ReprInput, data: AnyTypedArray | null, note = ''): Record<string, unknown> {
  if (!data) {
    const text = `${t.header}${note ? `\n${note}` : ''}`;
    return { 'text/plain': text, 'text/html': `<code>${escapeHtml(t.header)}</code>${note ? `<br><small>${escapeHtml(note)}</small>` : ''}` };
  }
  const values = formatValues(data, t.shape, t.dtype);
  return { 'text/plain': `${t.header}\n${values}`, 'text/html': html(t, data) };
}

/** A table for 0-2 dimensions (index headers, `…` where summarised); more dimensions as preformatted text. */
function html(t: ReprInput, data: AnyTypedArray): string {
  const head = `<div><code>${escapeHtml(t.header)}</code></div>`;
  const shape = t.shape;
  if (shape.length > 2) return `${head}<pre style="margin:0">${escapeHtml(formatValues(data, shape, t.dtype))}</pre>`;
  const size = shape.reduce((a, b) => a * b, 1);
  const summarise = size > SUMMARY_THRESHOLD;
  const rows = shape.length === 2 ? shown(shape[0]!, summarise) : [0];
  const cols = shape.length >= 1 ? shown(shape[shape.length - 1]!, summarise) : [0];
  const ncols = shape.length >= 1 ? shape[shape.length - 1]! : 1;
  const fmt = numberFormat(collect(data, shape, summarise), t.dtype);
  const td = 'style="text-align:right;padding:1px 6px;font-family:monospace"';
  const th = 'style="text-align:right;padding:1px 6px;color:#888;font-weight:normal"';
  const header = shape.length >= 1 ? `<tr><th></th>${cols.map((c) => `<th ${th}>${c < 0 ? '…' : c}</th>`).join('')}</tr>` : '';
  const body = rows.map((r) => {
    const label = shape.length === 2 ? (r < 0 ? '…' : String(r)) : '';
    const cells = cols.map((c) => (r < 0 || c < 0 ? `<td ${td}>…</td>` : `<td ${td}>${escapeHtml(fmt(data[(shape.length === 2 ? r * ncols : 0) + c]!))}</td>`)).join('');
    return `<tr><th ${th}>${label}</th>${cells}</tr>`;
  });
  return `${head}<table class="attnlab-tensor" style="border-collapse:collapse">${header}${body.join('')}</table>`;
}
