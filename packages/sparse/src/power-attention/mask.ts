/**
 * S4 PowerAttention, the sketch's candidate pattern (the paper's exact pattern is not in its
 * abstract): query i attends i itself and i - 2^m for every m >= 0, plus an optional local
 * window of the `local` most recent keys; causal. Powers of two are looked up in a captured table
 * of the sequence length (the mask subset has no bitwise operators).
 */
import { maskMod, type MaskMod } from '@attnlab/attention';
import { TensorError } from '@attnlab/tensor';

export interface PowerOptions {
  /** Longest sequence the mask is used for (the table's length). */
  length: number;
  /** Local window (default 1: the query itself). */
  local?: number;
}

export function powerMask(o: PowerOptions): MaskMod {
  const n = o.length;
  if (!Number.isInteger(n) || n < 1) throw new TensorError('powerMask', `length must be a positive integer, got ${String(n)}`);
  const w = o.local ?? 1;
  if (!Number.isInteger(w) || w < 1) throw new TensorError('powerMask', `local must be an integer >= 1, got ${String(w)}`);
  const p = new Int32Array(n);
  for (let d = 1; d < n; d *= 2) p[d] = 1;
  return maskMod((b, h, q, k) => k <= q && (q - k < w || p[q - k] === 1), { captures: { w, p }, name: `power(local=${w})` });
}

/** Offsets i - j a power pattern keeps in one layer (0..local-1 and powers of two below n). */
export function powerOffsets(n: number, local = 1): number[] {
  const s = new Set<number>();
  for (let d = 0; d < Math.min(local, n); d++) s.add(d);
  for (let d = 1; d < n; d *= 2) s.add(d);
  return [...s].sort((a, b) => a - b);
}
