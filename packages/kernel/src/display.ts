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
