/**
 * Seeded PRNG (mulberry32) and Gaussian arrays, so notebooks and tests draw the same cases: one copy in
 * @attnlab/tensor for every package, re-exported under the names this package already uses.
 */
export { mulberry32 as rng } from '@attnlab/tensor';
import { gaussianArray } from '@attnlab/tensor';

/** n standard normal float32 values (Box-Muller). */
export function gaussian(r: () => number, n: number): Float32Array {
  return gaussianArray(r, n);
}
