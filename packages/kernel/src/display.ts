import { formatValue } from './format.js';
/** A mime bundle: mime type -> data (text, JSON-able value or base64 for images). */
export type MimeBundle = Record<string, unknown>;

export const DISPLAY = Symbol.for('Jupyter.display');

interface Displayable {
  [DISPLAY](): MimeBundle;
}

function isDisplayable(v: unknown): v is Displayable {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as Partial<Displayable>)[DISPLAY] === 'function';
}

/**
 * Text for values without a display method: a string as JSON (as the result of a cell), anything
 * else as Node's util.inspect would print it (see format.ts; the same in both hosts).
 */
export function plainText(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    return formatValue(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** The mime bundle of any value: its `Symbol.for('Jupyter.display')` bundle, else text/plain. */
export function toMimeBundle(v: unknown): MimeBundle {
  if (isDisplayable(v)) {
    const b = v[DISPLAY]();
    return 'text/plain' in b ? b : { 'text/plain': plainText(v), ...b };
  }
  return { 'text/plain': plainText(v) };
}

/**
 * A value whose full display needs an async step (a WebGPU tensor's values must be read back)
 * offers `Symbol.for('attnlab.display.async')`, resolving to a mime bundle. The kernel awaits it
 * for a cell's result, and for display() shows the sync bundle at once and replaces it in place.
 */
export const DISPLAY_ASYNC = Symbol.for('attnlab.display.async');

export function hasAsyncDisplay(v: unknown): boolean {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as Record<symbol, unknown>)[DISPLAY_ASYNC] === 'function';
}

/** The async bundle of a value, or null when it has none or reading it failed (the sync bundle stands). */
export async function asyncMimeBundle(v: unknown): Promise<MimeBundle | null> {
  if (!hasAsyncDisplay(v)) return null;
  try {
    const b = (await (v as Record<symbol, () => Promise<unknown>>)[DISPLAY_ASYNC]!()) as MimeBundle | null;
    return b && typeof b === 'object' ? b : null;
  } catch {
    return null;
  }
}
