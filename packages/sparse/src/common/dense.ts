import type { MaskMod } from '@attnlab/attention';

/** A mask as a plain predicate on (head, query, key). */
export type KeepFn = (h: number, q: number, k: number) => boolean;

/** The 0/1 matrix [nq, nk] a MaskMod keeps for head h (evaluated on the CPU, b = 0). */
export function denseMask(mask: MaskMod, nq: number, nk = nq, h = 0): Uint8Array {
  const f = mask.evaluator(nq, nk);
  const out = new Uint8Array(nq * nk);
  for (let q = 0; q < nq; q++) for (let k = 0; k < nk; k++) out[q * nk + k] = f(0, h, q, k) ? 1 : 0;
  return out;
}
