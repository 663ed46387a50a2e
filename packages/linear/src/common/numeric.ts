/** Seeded random data, fp16 rounding and error measures shared by tests and notebooks. */

// The seeded generators and fp16 rounding live in @attnlab/tensor (one copy for every package); re-exported under the
// names this package's tests and notebooks already use.
export { mulberry32 as rng, gaussianArray as randnArray, roundFp16, toFp16Values } from '@attnlab/tensor';

/** max |a - b| / max(|b|, tiny): the relative error used by every check here. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: length ${a.length} != ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= num)) num = d;
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-30);
}

/** max |a - b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d;
  }
  return m;
}
