/** Seeded PRNG (mulberry32, @attnlab/tensor's one copy) and helpers shared by the tests. */
import { mulberry32, gaussianArray } from '@attnlab/tensor';

export const rng = mulberry32;

export function randn(r: () => number, n: number, scale = 1): Float32Array {
  return gaussianArray(r, n, scale);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue; // equal infinities
    const d = Math.abs(x - y);
    if (!(d <= m)) m = d; // NaN propagates as NaN
  }
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Max relative error |a-b| / max(|b|_inf, tiny). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return maxAbsDiff(a, b) / Math.max(maxAbs(b), 1e-30);
}

/**
 * max |a - b| (with `rel`: |a - b| / max(1, |b|), for lse, which float32 holds to a relative ulp),
 * equal special values (NaN and NaN, same infinities) counting as equal.
 */
export function diffSpecials(a: ArrayLike<number>, b: ArrayLike<number>, rel = false): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const d = Math.abs(x - y) / (rel ? Math.max(1, Math.abs(y)) : 1);
    if (!(d <= m)) m = d;
  }
  return m;
}
