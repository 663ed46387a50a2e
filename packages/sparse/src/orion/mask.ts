/**
 * Orion-style window + global + random attention (BigBird's three parts): every query keeps
 * (1) the keys within a local window, (2) the first `globalTokens` keys, and every one of the
 * first `globalTokens` queries keeps all keys, (3) `randomBlocks` key blocks drawn per query block
 * (seeded). The random part is a captured table of key-block ids, tested by an unrolled
 * comparison (the mask subset has no loops), so it runs in the flash kernels like any maskMod.
 */
import { and, causal as causalMask, maskMod, type MaskMod } from '@attnlab/attention';
import { TensorError } from '@attnlab/tensor';
import { rng } from '../common/random.js';

export interface OrionOptions {
  length: number;
  /** Keys with |q - k| < window (causal: q - window < k <= q). */
  window: number;
  /** Global tokens: the first g keys are seen by all, the first g queries see everything. Default 0. */
  globalTokens?: number;
  /** Random key blocks per query block (default 0) and the block size (default 16). */
  randomBlocks?: number;
  blockSize?: number;
  seed?: number;
  causal?: boolean;
}

function int(what: string, x: unknown, min: number): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min) throw new TensorError('orionMask', `${what} must be an integer >= ${min}, got ${String(x)}`);
  return x;
}

/** The random key-block table [nBlocks * r] (distinct blocks per row while there are enough). */
export function randomBlockTable(length: number, r: number, blockSize: number, seed: number): Int32Array {
  const nb = Math.ceil(length / blockSize);
  const t = new Int32Array(nb * r);
  const draw = rng(seed);
  for (let qb = 0; qb < nb; qb++) {
    const used = new Set<number>();
    for (let i = 0; i < r; i++) {
      let b = Math.floor(draw() * nb);
      for (let tries = 0; used.has(b) && tries < 4 * nb; tries++) b = Math.floor(draw() * nb);
      used.add(b);
      t[qb * r + i] = b;
    }
  }
  return t;
}

export function orionMask(o: OrionOptions): MaskMod {
  const n = int('length', o.length, 1);
  const w = int('window', o.window, 1);
  const g = int('globalTokens', o.globalTokens ?? 0, 0);
  const r = int('randomBlocks', o.randomBlocks ?? 0, 0);
  const bs = int('blockSize', o.blockSize ?? 16, 1);
  // A capture cannot be empty: without random blocks the table is a placeholder the mask never reads.
  const t = r > 0 ? randomBlockTable(n, r, bs, o.seed ?? 0) : new Int32Array(1);
  const random = Array.from({ length: r }, (_, i) => `t[Math.floor(q / bs) * r + ${i}] === Math.floor(k / bs)`);
  const src = `(b, h, q, k) => (q - k < w && k - q < w) || k < g || q < g${random.map((x) => ` || ${x}`).join('')}`;
  const m = maskMod(src, { captures: { w, g, r, bs, t }, name: `orion(window=${w}, global=${g}, random=${r}x${bs})` });
  return (o.causal ?? true) ? and(causalMask(), m) : m;
}
