/**
 * L5 HyperAttention (Han et al.), the part that is randomness: sortLSH bucketing and column samples.
 * Queries and keys are hashed with r random hyperplanes (angular LSH, code = sign bits read as a
 * Gray code so neighbouring buckets differ by one plane), sorted by code, and cut into equal
 * blocks; query block i is paired with key block i, so nearby q/k land in the same block and the
 * block diagonal catches the large entries. Then m key columns are drawn uniformly with
 * replacement for the rest of each row. A plan is data, so the fast path and its float64
 * reference can be run on exactly the same buckets and samples.
 */
import { TensorError } from '@attnlab/tensor';
import { gaussian, rng } from '../common/random.js';

/** One head: row-major q [nq, d], k [nk, d], v [nk, dv]. */
export interface HeadShape {
  nq: number;
  nk: number;
  d: number;
  dv: number;
}

export interface HyperOptions {
  /** Hyperplanes of the angular LSH (2^bits buckets). Default 4. */
  bits?: number;
  /** Keys per block of the sorted block diagonal (0: no LSH part, sampling only). Default 64. */
  blockSize?: number;
  /** Sampled key columns m. Default 64. */
  samples?: number;
  /** Seed of the hyperplanes and the samples. Default 0. */
  seed?: number;
  /** Score scale; default 1/sqrt(d). */
  scale?: number;
}

export interface HyperPlan {
  shape: HeadShape;
  scale: number;
  /** Block of each query and of each key (original order); -1 when there is no LSH part. */
  qBlock: Int32Array;
  kBlock: Int32Array;
  /** Keys of each block, block b = blockKeys[blockStart[b] .. blockStart[b + 1]). */
  blockStart: Int32Array;
  blockKeys: Int32Array;
  /** The m sampled key columns (with replacement). */
  samples: Int32Array;
}

export function checkHead(who: string, q: Float32Array, k: Float32Array, v: Float32Array, s: HeadShape): void {
  for (const [name, x] of Object.entries(s)) if (!Number.isInteger(x) || x < 1) throw new TensorError(who, `${name} must be a positive integer, got ${String(x)}`);
  if (q.length !== s.nq * s.d) throw new TensorError(who, `q has ${q.length} values, expected nq·d = ${s.nq}·${s.d}`);
  if (k.length !== s.nk * s.d) throw new TensorError(who, `k has ${k.length} values, expected nk·d = ${s.nk}·${s.d}`);
  if (v.length !== s.nk * s.dv) throw new TensorError(who, `v has ${v.length} values, expected nk·dv = ${s.nk}·${s.dv}`);
}

function grayDecode(g: number): number {
  let b = g;
  for (let s = g >>> 1; s; s >>>= 1) b ^= s;
  return b;
}

/** Bucket of each row of x [n, d] under the hyperplanes [bits, d]. */
export function lshBuckets(x: Float32Array, n: number, d: number, planes: Float32Array, bits: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let code = 0;
    for (let p = 0; p < bits; p++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += x[i * d + c]! * planes[p * d + c]!;
      code = (code << 1) | (dot >= 0 ? 1 : 0);
    }
    out[i] = grayDecode(code);
  }
  return out;
}

/** Stable order of 0..n-1 by bucket. */
function sortedOrder(bucket: Int32Array): Int32Array {
  const idx = Array.from({ length: bucket.length }, (_, i) => i);
  idx.sort((a, b) => bucket[a]! - bucket[b]! || a - b);
  return Int32Array.from(idx);
}

export function hyperPlan(q: Float32Array, k: Float32Array, v: Float32Array, shape: HeadShape, o: HyperOptions = {}): HyperPlan {
  checkHead('hyperAttention', q, k, v, shape);
  const bits = o.bits ?? 4;
  const blockSize = o.blockSize ?? 64;
  const m = o.samples ?? 64;
  if (!Number.isInteger(bits) || bits < 1 || bits > 24) throw new TensorError('hyperAttention', `bits must be an integer in 1..24, got ${bits}`);
  if (!Number.isInteger(blockSize) || blockSize < 0) throw new TensorError('hyperAttention', `blockSize must be a non-negative integer, got ${blockSize}`);
  if (!Number.isInteger(m) || m < 0) throw new TensorError('hyperAttention', `samples must be a non-negative integer, got ${m}`);
  if (blockSize === 0 && m === 0) throw new TensorError('hyperAttention', 'blockSize and samples are both 0: nothing would be attended');
  const scale = o.scale ?? 1 / Math.sqrt(shape.d);
  const r = rng(o.seed ?? 0);
  const { nq, nk, d } = shape;
  const qBlock = new Int32Array(nq).fill(-1);
  const kBlock = new Int32Array(nk).fill(-1);
  let blockStart: Int32Array = new Int32Array(1);
  let blockKeys: Int32Array = new Int32Array(0);
  if (blockSize > 0) {
    const planes = gaussian(r, bits * d);
    const qo = sortedOrder(lshBuckets(q, nq, d, planes, bits));
    const ko = sortedOrder(lshBuckets(k, nk, d, planes, bits));
    const nb = Math.ceil(nk / blockSize);
    blockStart = new Int32Array(nb + 1);
    for (let b = 0; b <= nb; b++) blockStart[b] = Math.min(nk, b * blockSize);
    blockKeys = ko;
    for (let p = 0; p < nk; p++) kBlock[ko[p]!] = Math.floor(p / blockSize);
    // Sorted query p goes to the block at the same relative position among the sorted keys.
    for (let p = 0; p < nq; p++) qBlock[qo[p]!] = Math.min(nb - 1, Math.floor((p * nb) / nq));
  }
  const samples = new Int32Array(m);
  for (let t = 0; t < m; t++) samples[t] = Math.min(nk - 1, Math.floor(r() * nk));
  return { shape, scale, qBlock, kBlock, blockStart, blockKeys, samples };
}
