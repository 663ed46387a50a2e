/**
 * Small statistics the method packages report their claims with (one copy, so every notebook fits
 * lines and ranks the same way): medians, least-squares lines with R², log-log slopes, Spearman's ρ.
 */
import { TensorError } from './errors.js';

/** Median of a non-empty list (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new TensorError('median', 'no values');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface LineFit {
  slope: number;
  intercept: number;
  /** Coefficient of determination of y ~ slope * x + intercept. */
  r2: number;
}

/** Ordinary least squares y = slope·x + intercept with R² (NaN inputs give NaN, as in the arithmetic). */
export function linearFit(x: readonly number[], y: readonly number[]): LineFit {
  if (x.length !== y.length || x.length < 2) throw new TensorError('linearFit', `needs two equal-length series of at least 2 points, got ${x.length} and ${y.length}`);
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  if (sxx === 0) throw new TensorError('linearFit', 'all x values are equal');
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept: my - slope * mx, r2 };
}

/** Slope of log(y) against log(x): the exponent p of y ∝ x^p. */
export function logLogSlope(x: readonly number[], y: readonly number[]): number {
  if (x.some((v) => !(v > 0)) || y.some((v) => !(v > 0))) throw new TensorError('logLogSlope', 'x and y must be positive');
  return linearFit(x.map(Math.log), y.map(Math.log)).slope;
}

/** 1-based ranks, ties sharing their average rank. */
export function ranks(v: readonly number[]): number[] {
  const idx = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
  const r = new Array<number>(v.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1]![0] === idx[i]![0]) j++;
    for (let t = i; t <= j; t++) r[idx[t]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Pearson's correlation; NaN when either side is constant. */
export function pearson(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length < 2) throw new TensorError('pearson', `needs two equal-length lists of at least 2 values, got ${a.length} and ${b.length}`);
  const n = a.length;
  const ma = a.reduce((x, y) => x + y, 0) / n;
  const mb = b.reduce((x, y) => x + y, 0) / n;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < n; i++) {
    num += (a[i]! - ma) * (b[i]! - mb);
    da += (a[i]! - ma) ** 2;
    db += (b[i]! - mb) ** 2;
  }
  return da === 0 || db === 0 ? NaN : num / Math.sqrt(da * db);
}

/** Spearman's rank correlation (average ranks for ties); NaN when either side is constant. */
export function spearman(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length < 2) throw new TensorError('spearman', `needs two equal-length lists of at least 2 values, got ${a.length} and ${b.length}`);
  return pearson(ranks(a), ranks(b));
}
