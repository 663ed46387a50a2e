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

/**
 * Percentile interval of the normalised restoration (mean(p) - mean(r)) / (mean(c) - mean(r)) over
 * rows resampled jointly for the patched (p), clean (c) and corrupted (r) per-row values. A
 * resample whose clean and corrupted means coincide is NaN and sorts last (it widens the top end).
 */
export function normalizedBootstrapCI(p: ArrayLike<number>, c: ArrayLike<number>, r: ArrayLike<number>, o: BootstrapOptions = {}): [number, number] {
  const R = o.samples ?? 1000;
  const level = o.level ?? 0.95;
  const rng = new Rng(o.seed ?? 1);
  const n = p.length;
  const vals = new Float64Array(R);
  for (let s = 0; s < R; s++) {
    let sp = 0, sc = 0, sr = 0;
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      sp += p[j]!; sc += c[j]!; sr += r[j]!;
    }
    vals[s] = sc === sr ? Number.NaN : (sp - sr) / (sc - sr);
  }
  vals.sort();
  return [vals[Math.floor(((1 - level) / 2) * (R - 1))]!, vals[Math.ceil((1 - (1 - level) / 2) * (R - 1))]!];
}

/** Percentile interval of the mean of `values` (values resampled with `rng`). */
export function meanBootstrapCI(values: readonly number[], rng: Rng, o: BootstrapOptions = {}): [number, number] {
  const R = o.samples ?? 1000;
  const level = o.level ?? 0.95;
  const n = values.length;
  const means = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.int(n)]!;
    means[r] = s / n;
  }
  means.sort();
  return [means[Math.floor(((1 - level) / 2) * (R - 1))]!, means[Math.ceil((1 - (1 - level) / 2) * (R - 1))]!];
}

/** `draws` sets of k distinct items of `pool` (partial Fisher-Yates per draw). */
export function randomSubsets<T>(pool: readonly T[], k: number, draws: number, rng: Rng): T[][] {
  const list: T[][] = [];
  for (let d = 0; d < draws; d++) {
    const a = [...pool];
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(a.length - i);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    list.push(a.slice(0, k));
  }
  return list;
}
