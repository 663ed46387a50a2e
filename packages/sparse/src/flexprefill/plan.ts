/**
 * S6 FlexPrefill, per head: the last query block's exact attention decides the pattern. Its
 * block-pooled distribution ā is compared with the one pooled q/k predict, â = softmax(mean q̂ ·
 * mean K_b / √d); when the Jensen-Shannon distance √JS(ā, â) < τ the head is *query-aware* (each
 * query block keeps the fewest key blocks whose estimated mass reaches γ), otherwise
 * *vertical-slash* (from the last block's attention, the fewest key columns and the fewest diagonal
 * offsets whose mass reaches γ, each; the tiles they cross are kept). The diagonal tile is always
 * kept. The budget thus adapts per head and per input: a peaked head keeps few blocks at the same γ.
 */
import { TensorError } from '@attnlab/tensor';
import { meanPool } from '../block-select/index.js';
import { lastKeyBlock } from '../seer-attention/gate.js';

export interface FlexPrefillOptions {
  /** Cumulative attention mass to keep (γ), in (0, 1]. Default 0.9. */
  gamma?: number;
  /** Jensen-Shannon distance threshold τ for the query-aware pattern. Default 0.1. */
  tau?: number;
  /** Tile size. Default 64. */
  blockSize?: number;
  /** Score scale, default 1/√d. */
  scale?: number;
}

export interface FlexPrefillPlan {
  pattern: 'query-aware' | 'vertical-slash';
  /** √JS(ā, â). */
  jsDistance: number;
  /** 0/1 tile table [nQB, nKB]. */
  table: Int32Array;
  /** Vertical-slash only: the selected key columns and offsets. */
  columns?: number[];
  offsets?: number[];
}

/** Jensen-Shannon divergence (natural log) of two distributions. */
export function jsDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    const m = (p[i]! + q[i]!) / 2;
    if (p[i]! > 0) s += 0.5 * p[i]! * Math.log(p[i]! / m);
    if (q[i]! > 0) s += 0.5 * q[i]! * Math.log(q[i]! / m);
  }
  return Math.max(0, s);
}

/** Indices of the fewest entries (largest first, ties to the lower index) whose sum reaches gamma·total. */
export function cumulativeTopP(xs: ArrayLike<number>, len: number, gamma: number): number[] {
  const idx = Array.from({ length: len }, (_, j) => j).sort((a, b) => xs[b]! - xs[a]! || a - b);
  let total = 0;
  for (let j = 0; j < len; j++) total += xs[j]!;
  const out: number[] = [];
  let acc = 0;
  for (const j of idx) {
    if (acc >= gamma * total && out.length) break;
    out.push(j);
    acc += xs[j]!;
  }
  return out;
}

function softmaxInPlace(x: Float64Array, n: number): void {
  let mx = -Infinity;
  for (let i = 0; i < n; i++) mx = Math.max(mx, x[i]!);
  let z = 0;
  for (let i = 0; i < n; i++) z += (x[i] = Math.exp(x[i]! - mx));
  for (let i = 0; i < n; i++) x[i]! /= z;
}

/**
 * Pooled block estimate of one head: for each query block, softmax over its causal key blocks of
 * (mean q of the block)·(mean k of the key block)·scale -> [nQB, nKB] (0 on non-causal blocks).
 * The query-aware pattern's scores, and a fixed top-k over them is the non-adaptive baseline.
 */
export function pooledBlockScores(q: ArrayLike<number>, k: ArrayLike<number>, nq: number, nk: number, d: number, bs: number, scale = 1 / Math.sqrt(d)): Float64Array {
  const nQB = Math.ceil(nq / bs);
  const nKB = Math.ceil(nk / bs);
  const pq = meanPool(q, nq, d, bs);
  const pk = meanPool(k, nk, d, bs);
  const out = new Float64Array(nQB * nKB);
  for (let qb = 0; qb < nQB; qb++) {
    const n = lastKeyBlock(qb, nq, nk, bs) + 1;
    if (n <= 0) continue;
    const row = out.subarray(qb * nKB, qb * nKB + n);
    for (let kb = 0; kb < n; kb++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += pq[qb * d + e]! * pk[kb * d + e]!;
      row[kb] = s * scale;
    }
    softmaxInPlace(row, n);
  }
  return out;
}

/** The plan for one head, q [nq, d], k [nk, d] (end-aligned causal). */
export function flexPrefillPlan(q: ArrayLike<number>, k: ArrayLike<number>, nq: number, nk: number, d: number, o: FlexPrefillOptions = {}): FlexPrefillPlan {
  const gamma = o.gamma ?? 0.9;
  const tau = o.tau ?? 0.1;
  const bs = o.blockSize ?? 64;
  const scale = o.scale ?? 1 / Math.sqrt(d);
  if (!(gamma > 0 && gamma <= 1)) throw new TensorError('flexPrefill', `gamma must be in (0, 1], got ${gamma}`);
  if (!(tau >= 0)) throw new TensorError('flexPrefill', `tau must be >= 0, got ${tau}`);
  if (!Number.isInteger(bs) || bs < 1) throw new TensorError('flexPrefill', `blockSize must be a positive integer, got ${bs}`);
  const nQB = Math.ceil(nq / bs);
  const nKB = Math.ceil(nk / bs);
  const off = nk - nq;
  const r0 = (nQB - 1) * bs; // the last query block's rows r0..nq-1
  const R = nq - r0;
  // Exact attention of the last query block (float64).
  const a = new Float64Array(R * nk);
  for (let r = 0; r < R; r++) {
    const i = r0 + r;
    const len = Math.min(nk, i + off + 1);
    const row = a.subarray(r * nk, r * nk + len);
    for (let j = 0; j < len; j++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += q[i * d + e]! * k[j * d + e]!;
      row[j] = s * scale;
    }
    softmaxInPlace(row, len);
  }
  const visible = lastKeyBlock(nQB - 1, nq, nk, bs) + 1;
  const truth = new Float64Array(visible);
  for (let r = 0; r < R; r++) for (let j = 0; j < nk; j++) if (Math.floor(j / bs) < visible) truth[Math.floor(j / bs)] += a[r * nk + j]! / R;
  const pk = meanPool(k, nk, d, bs);
  const blockEst = (qb: number, n: number): Float64Array => {
    const pq = new Float64Array(d);
    const q1 = Math.min(nq, qb * bs + bs);
    for (let i = qb * bs; i < q1; i++) for (let e = 0; e < d; e++) pq[e] += q[i * d + e]! / (q1 - qb * bs);
    const est = new Float64Array(n);
    for (let kb = 0; kb < n; kb++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += pq[e]! * pk[kb * d + e]!;
      est[kb] = s * scale;
    }
    softmaxInPlace(est, n);
    return est;
  };
  const jsDistance = Math.sqrt(jsDivergence(truth, blockEst(nQB - 1, visible)));
  const table = new Int32Array(nQB * nKB);
  if (jsDistance < tau) {
    for (let qb = 0; qb < nQB; qb++) {
      const last = lastKeyBlock(qb, nq, nk, bs);
      if (last < 0) continue;
      table[qb * nKB + last] = 1;
      for (const kb of cumulativeTopP(blockEst(qb, last + 1), last + 1, gamma)) table[qb * nKB + kb] = 1;
    }
    return { pattern: 'query-aware', jsDistance, table };
  }
  // Vertical (key columns) and slash (offsets q_pos − k) mass of the last block's attention.
  const vertical = new Float64Array(nk);
  const slash = new Float64Array(nk);
  for (let r = 0; r < R; r++) {
    const pos = r0 + r + off;
    for (let j = 0; j <= Math.min(nk - 1, pos); j++) {
      vertical[j] += a[r * nk + j]!;
      slash[pos - j] += a[r * nk + j]!;
    }
  }
  const cols = new Uint8Array(nk);
  const columns = cumulativeTopP(vertical, nk, gamma);
  for (const j of columns) cols[j] = 1;
  const offs = cumulativeTopP(slash, nk, gamma);
  for (let qb = 0; qb < nQB; qb++) {
    const last = lastKeyBlock(qb, nq, nk, bs);
    if (last < 0) continue;
    table[qb * nKB + last] = 1;
    const p0 = qb * bs + off;
    const p1 = Math.min(nq - 1, qb * bs + bs - 1) + off;
    for (let kb = 0; kb <= last; kb++) {
      const k0 = kb * bs;
      const k1 = Math.min(nk - 1, kb * bs + bs - 1);
      let hit = false;
      for (let j = k0; j <= k1 && !hit; j++) if (cols[j] && j <= p1) hit = true;
      for (const o2 of offs) if (!hit && o2 >= p0 - k1 && o2 <= p1 - k0) hit = true;
      if (hit) table[qb * nKB + kb] = 1;
    }
  }
  return { pattern: 'vertical-slash', jsDistance, table, columns, offsets: offs };
}
