/**
 * Paired bootstrap over prompt rows. A metric is a ratio of per-row sums (hits / scored
 * positions), so rows, not positions, are resampled: positions of one row are not independent.
 */
import { Rng } from '@attnlab/tensor';

/** Per-row totals of a metric: value = sum(num) / sum(den). */
export interface RowTotals {
  num: Float64Array;
  den: Float64Array;
}

export const ratio = (t: RowTotals): number => {
  let n = 0;
  let d = 0;
  for (let i = 0; i < t.num.length; i++) {
    n += t.num[i]!;
    d += t.den[i]!;
  }
  return d > 0 ? n / d : Number.NaN;
};

export interface BootstrapOptions {
  /** Resamples (default 1000). */
  samples?: number;
  /** Two-sided level (default 0.95). */
  level?: number;
  seed?: number;
}

/** Percentile interval of value(a) - value(b) over rows resampled jointly (same rows for both). */
export function pairedBootstrapCI(a: RowTotals, b: RowTotals, o: BootstrapOptions = {}): [number, number] {
  const R = o.samples ?? 1000;
  const level = o.level ?? 0.95;
  const rng = new Rng(o.seed ?? 1);
  const n = a.num.length;
  const diffs = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let an = 0, ad = 0, bn = 0, bd = 0;
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      an += a.num[j]!; ad += a.den[j]!; bn += b.num[j]!; bd += b.den[j]!;
    }
    diffs[r] = (ad > 0 ? an / ad : Number.NaN) - (bd > 0 ? bn / bd : Number.NaN);
  }
  diffs.sort();
  const lo = diffs[Math.floor(((1 - level) / 2) * (R - 1))]!;
  const hi = diffs[Math.ceil((1 - (1 - level) / 2) * (R - 1))]!;
  return [lo, hi];
}
