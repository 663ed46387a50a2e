/**
 * S3 Landmark attention, retrieval side. The paper appends a trained landmark token to every
 * block of B tokens and trains the attention (a grouped softmax) so that a query's weight on a
 * block's landmark says how much it wants that block; at inference each query keeps the top-k
 * blocks by landmark score plus its local window. We train no landmark token: each block's
 * representative key is the mean of its keys (what a landmark could learn to hold at most), so a
 * query scores block b by q·mean(k_b) and retrieves the top-k complete blocks before it. That is
 * weaker than a trained landmark (the mean dilutes one salient key among B), and the check is
 * whether it still finds the needle on a model trained without landmarks.
 */
import { TensorError } from '@attnlab/tensor';
import { maxPool, meanPool, topIndices } from '../block-select/index.js';

export interface LandmarkOptions {
  /** Block size B. Default 16. */
  blockSize?: number;
  /** Blocks retrieved per query. Default 2. */
  topK?: number;
  /** Most recent keys every query keeps (its local window, itself included). Default blockSize. */
  local?: number;
  /** How a block's keys make its representative: 'mean' (default) or 'max' (per dimension). */
  pool?: 'mean' | 'max';
}

export function landmarkParams(o: LandmarkOptions): { bs: number; topK: number; local: number; pool: 'mean' | 'max' } {
  const bs = o.blockSize ?? 16;
  const topK = o.topK ?? 2;
  const local = o.local ?? bs;
  if (!Number.isInteger(bs) || bs < 1) throw new TensorError('landmark', `blockSize must be a positive integer, got ${String(bs)}`);
  if (!Number.isInteger(topK) || topK < 0) throw new TensorError('landmark', `topK must be a non-negative integer, got ${String(topK)}`);
  if (!Number.isInteger(local) || local < 1) throw new TensorError('landmark', `local must be a positive integer, got ${String(local)}`);
  const pool = o.pool ?? 'mean';
  if (pool !== 'mean' && pool !== 'max') throw new TensorError('landmark', `pool must be 'mean' or 'max', got ${String(pool)}`);
  return { bs, topK, local, pool };
}

/**
 * Retrieved key blocks per query row of one head: a 0/1 table [nq, nKB]. Candidates are the complete
 * blocks wholly before the query's local window (end-aligned causal positions).
 */
export function landmarkRows(q: ArrayLike<number>, k: ArrayLike<number>, nq: number, nk: number, d: number, o: LandmarkOptions = {}): Int32Array {
  const { bs, topK, local, pool } = landmarkParams(o);
  const nKB = Math.ceil(nk / bs);
  const reps = pool === 'max' ? maxPool(k, nk, d, bs) : meanPool(k, nk, d, bs);
  const out = new Int32Array(nq * nKB);
  const score = new Float64Array(nKB);
  const off = nk - nq;
  for (let i = 0; i < nq; i++) {
    const pos = i + off;
    const cand = Math.max(0, Math.floor((pos - local + 1) / bs)); // blocks ending before the window
    for (let b = 0; b < cand; b++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += q[i * d + e]! * reps[b * d + e]!;
      score[b] = s;
    }
    for (const b of topIndices(score, cand, topK)) out[i * nKB + b] = 1;
  }
  return out;
}

/** Keys a row of the table attends to (retrieved blocks ∪ local window), per row [nq]. */
export function retrievedCounts(rows: Int32Array, nq: number, nk: number, o: LandmarkOptions = {}): Int32Array {
  const { bs, local } = landmarkParams(o);
  const nKB = Math.ceil(nk / bs);
  const off = nk - nq;
  const out = new Int32Array(nq);
  for (let i = 0; i < nq; i++) {
    const pos = i + off;
    let c = 0;
    for (let j = 0; j <= Math.min(nk - 1, pos); j++) if (pos - j < local || rows[i * nKB + Math.floor(j / bs)] === 1) c++;
    out[i] = c;
  }
  return out;
}
