/**
 * `progress()`: a bar that updates in place (update_display_data on one display id) for long
 * loops such as training. Updates are throttled so a million-step loop sends a handful of messages.
 *
 *   for (const step of progress(range, { label: 'train' })) { ... }   // wraps any iterable
 *   for (const i of progress(16)) { ... }                              // 0..15, like tqdm's trange
 *   const bar = progress(1000); bar.update(10, 'loss 2.31'); bar.done();
 *
 * A bar never stays stale: an update the throttle skipped is drawn shortly after (a trailing
 * redraw), and a loop that ends, breaks or throws draws its final count.
 */
import type { DisplayHandle } from './core.js';
import { DISPLAY, type MimeBundle } from './display.js';

export interface ProgressOptions {
  label?: string;
  /** Total steps when wrapping an iterable without a length. */
  total?: number;
  /** Minimum milliseconds between redraws (default 100). */
  throttleMs?: number;
}

export interface ProgressBar extends Iterable<number> {
  /** Advances by n steps (default 1) and optionally sets the status text after the bar. */
  update(n?: number, status?: string): void;
  /** Sets the absolute position. */
  set(value: number, status?: string): void;
  /** Draws the final state. */
  done(status?: string): void;
  readonly value: number;
  /** Counts 0..total-1, advancing the bar after each step (`for (const i of progress(16))`). */
  [Symbol.iterator](): Iterator<number>;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function render(label: string, value: number, total: number | undefined, status: string, elapsed: number): MimeBundle {
  const frac = total ? Math.min(1, value / total) : 0;
  const width = 30;
  const filled = Math.round(frac * width);
  const count = total ? `${value}/${total}` : `${value}`;
  const rate = elapsed > 0 ? `${(value / elapsed).toFixed(1)} it/s` : '';
  const text = `${label ? label + ' ' : ''}${total ? '[' + '#'.repeat(filled) + '.'.repeat(width - filled) + '] ' : ''}${count} ${rate}${status ? ' ' + status : ''}`.trim();
  const bar = total ? `<progress value="${value}" max="${total}" style="width:20em;vertical-align:middle"></progress> ` : '';
  const html = `<div class="attnlab-progress">${escapeHtml(label)} ${bar}<code>${escapeHtml(count)}</code> <span>${escapeHtml(rate)}</span> <span>${escapeHtml(status)}</span></div>`;
  return { 'text/plain': text, 'text/html': html };
}

export function makeProgress(display: (v: unknown) => DisplayHandle) {
  function progress(total: number, options?: ProgressOptions): ProgressBar;
  function progress<T>(items: Iterable<T>, options?: ProgressOptions): Iterable<T>;
  function progress<T>(arg: number | Iterable<T>, options: ProgressOptions = {}): ProgressBar | Iterable<T> {
    if (typeof arg === 'number') {
      if (!Number.isSafeInteger(arg) || arg < 0) throw new TypeError(`progress(total): total must be a non-negative integer, got ${arg}`);
    } else if (arg === null || typeof (arg as Partial<Iterable<T>>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`progress() takes a number of steps or an iterable, got ${arg === null ? 'null' : typeof arg}`);
    }
    const total = typeof arg === 'number' ? arg : options.total ?? lengthOf(arg);
    const label = options.label ?? '';
    const throttle = options.throttleMs ?? 100;
    const start = Date.now();
    let value = 0;
    let status = '';
    let last = 0;
    let trailing: ReturnType<typeof setTimeout> | null = null;
    const bundle = () => render(label, value, total, status, (Date.now() - start) / 1000);
    const handle = display({ [DISPLAY]: bundle });
    const draw = (force: boolean) => {
      const now = Date.now();
      if (!force && now - last < throttle) {
        // Skipped by the throttle: draw it once the interval has passed, so the bar is never left behind.
        if (!trailing) {
          trailing = setTimeout(() => {
            trailing = null;
            draw(true);
          }, throttle - (now - last));
          (trailing as { unref?: () => void }).unref?.();
        }
        return;
      }
      if (trailing) {
        clearTimeout(trailing);
        trailing = null;
      }
      last = now;
      handle.update({ [DISPLAY]: bundle });
    };
    const bar: ProgressBar = {
      update(n = 1, s) { value += n; if (s !== undefined) status = s; draw(total !== undefined && value >= total); },
      set(v, s) { value = v; if (s !== undefined) status = s; draw(false); },
      done(s) { if (s !== undefined) status = s; draw(true); },
      get value() { return value; },
      *[Symbol.iterator]() {
        try {
          for (let i = 0; i < (total ?? 0); i++) {
            yield i;
            bar.update(1);
          }
        } finally {
          bar.done();
        }
      },
    };
    if (typeof arg === 'number') return bar;
    return (function* () {
      try {
        for (const item of arg) {
          yield item;
          bar.update(1);
        }
      } finally {
        bar.done();
      }
    })();
  }
  return progress;
}

function lengthOf(v: unknown): number | undefined {
  const o = v as { length?: unknown; size?: unknown };
  if (typeof o.length === 'number') return o.length;
  if (typeof o.size === 'number') return o.size;
  return undefined;
}
