/**
 * Shared by the content-adaptive papers (SeerAttention, FlexPrefill, Landmark, Routing): block
 * pooling of one head's q/k, selection tables turned into FlexAttention-style masks (so the
 * attention kernels skip absent tiles through a BlockMask), and the measures F4 compares them by
 * (density over the causal entries, attention-mass recall). One head = plain row-major arrays.
 */
import { and, attention, createBlockMask, maskMod, type MaskLike, type MaskMod } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';

/** Mean of each block of `size` rows of x [n, d] -> [ceil(n / size), d] (the last block may be short). */
export function meanPool(x: ArrayLike<number>, n: number, d: number, size: number): Float64Array {
  const nb = Math.ceil(n / size);
  const out = new Float64Array(nb * d);
  for (let b = 0; b < nb; b++) {
    const r1 = Math.min(n, (b + 1) * size);
    for (let r = b * size; r < r1; r++) for (let e = 0; e < d; e++) out[b * d + e] += x[r * d + e]!;
    for (let e = 0; e < d; e++) out[b * d + e] /= r1 - b * size;
  }
  return out;
}

/** Max over each block's rows, per column -> [nb, d]. */
export function maxPool(x: ArrayLike<number>, n: number, d: number, size: number): Float64Array {
  const nb = Math.ceil(n / size);
  const out = new Float64Array(nb * d).fill(-Infinity);
  for (let r = 0; r < n; r++) {
    const b = Math.floor(r / size);
    for (let e = 0; e < d; e++) out[b * d + e] = Math.max(out[b * d + e]!, x[r * d + e]!);
  }
  return out;
}

export interface TableShape {
  B: number;
  H: number;
  Nq: number;
  Nk: number;
  qBlock: number;
  kBlock: number;
}

/** Tiles in each dimension of a table shape. */
export function tableDims(s: TableShape): { nQB: number; nKB: number } {
  return { nQB: Math.ceil(s.Nq / s.qBlock), nKB: Math.ceil(s.Nk / s.kBlock) };
}

/**
 * The mask that keeps tile (qb, kb) of (b, h) where table[((b·H + h)·nQB + qb)·nKB + kb] is 1,
 * ANDed with the end-aligned causal mask when `causal` (query q sits at key position q + Nk − Nq).
 */
export function blockTableMask(table: Int32Array, s: TableShape, causal = true): MaskMod {
  const { nQB, nKB } = tableDims(s);
  if (table.length !== s.B * s.H * nQB * nKB) throw new TensorError('blockTableMask', `table has ${table.length} entries, expected B·H·nQB·nKB = ${s.B}·${s.H}·${nQB}·${nKB}`);
  const { H, qBlock: qs, kBlock: ks } = s;
  const off = s.Nk - s.Nq;
  const cz = causal ? 1 : 0;
  return maskMod(
    (b, h, q, k) => table[((b * H + h) * nQB + Math.floor(q / qs)) * nKB + Math.floor(k / ks)] === 1 && (cz === 0 || k <= q + off),
    { captures: { table, H, nQB, nKB, qs, ks, off, cz }, name: `blockTable(${qs}x${ks})` },
  );
}

/**
 * Per-row block selection: key block kb is kept for query row q of (b, h) when
 * rows[((b·H + h)·Nq + q)·nKB + kb] is 1; plus the `local` most recent keys; causal (end-aligned).
 */
export function rowTableMask(rows: Int32Array, s: TableShape, local: number): MaskMod {
  const nKB = Math.ceil(s.Nk / s.kBlock);
  if (rows.length !== s.B * s.H * s.Nq * nKB) throw new TensorError('rowTableMask', `table has ${rows.length} entries, expected B·H·Nq·nKB = ${s.B}·${s.H}·${s.Nq}·${nKB}`);
  const { H, Nq, kBlock: ks } = s;
  const off = s.Nk - s.Nq;
  return maskMod(
    (b, h, q, k) => k <= q + off && (q + off - k < local || rows[((b * H + h) * Nq + q) * nKB + Math.floor(k / ks)] === 1),
    { captures: { rows, H, Nq, nKB, ks, off, local }, name: `rowBlocks(${ks}, local=${local})` },
  );
}

/**
 * Softmax attention of q [B, H, Nq, D] over k, v under `mask` (ANDed with `extra` when given), run
 * through a BlockMask so tiles the selection leaves out are never computed.
 */
export async function maskedBlockAttention(
  q: Tensor, k: Tensor, v: Tensor, mask: MaskMod, o: { scale?: number; extra?: MaskLike | null; blockSize?: number } = {},
): Promise<{ out: Tensor; lse: Tensor; density: number }> {
  const [B, H, Nq] = q.shape as [number, number, number];
  const Nk = k.shape[2]!;
  const m = o.extra ? and(o.extra as MaskMod, mask) : mask;
  const bm = createBlockMask(m, { B, H, Nq, Nk, blockSize: o.blockSize ?? 64 });
  const r = await attention(q, k, v, { mask: bm, ...(o.scale !== undefined ? { scale: o.scale } : {}) });
  return { out: r.out, lse: r.lse, density: bm.density() };
}

/** Fraction of the causal (end-aligned) entries a 0/1 keep matrix [nq, nk] holds. */
export function causalDensity(keep: Uint8Array, nq: number, nk: number): number {
  let kept = 0;
  let all = 0;
  const off = nk - nq;
  for (let i = 0; i < nq; i++) for (let j = 0; j <= Math.min(nk - 1, i + off); j++) {
    all++;
    kept += keep[i * nk + j]!;
  }
  return all ? kept / all : 1;
}

/** Mean over rows of the attention probability mass p [nq, nk] that keep [nq, nk] holds. */
export function massRecall(p: ArrayLike<number>, keep: Uint8Array, nq: number, nk: number): number {
  let s = 0;
  for (let i = 0; i < nq; i++) {
    let row = 0;
    let tot = 0;
    for (let j = 0; j < nk; j++) {
      tot += p[i * nk + j]!;
      if (keep[i * nk + j]) row += p[i * nk + j]!;
    }
    s += tot > 0 ? row / tot : 1;
  }
  return nq ? s / nq : 1;
}

/** Float64 causal softmax probabilities [nq, nk] of one head (q, k row-major [n, d]). */
export function causalProbs64(q: ArrayLike<number>, k: ArrayLike<number>, nq: number, nk: number, d: number, scale = 1 / Math.sqrt(d)): Float64Array {
  const p = new Float64Array(nq * nk);
  const off = nk - nq;
  for (let i = 0; i < nq; i++) {
    const len = Math.min(nk, i + off + 1);
    let mx = -Infinity;
    for (let j = 0; j < len; j++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += q[i * d + e]! * k[j * d + e]!;
      p[i * nk + j] = s * scale;
      mx = Math.max(mx, p[i * nk + j]!);
    }
    let den = 0;
    for (let j = 0; j < len; j++) {
      p[i * nk + j] = Math.exp(p[i * nk + j]! - mx);
      den += p[i * nk + j]!;
    }
    for (let j = 0; j < len; j++) p[i * nk + j]! /= den;
  }
  return p;
}

/** Expand a per-tile table of one head [nQB, nKB] to a 0/1 matrix [nq, nk] (causal, end-aligned). */
export function expandTable(table: ArrayLike<number>, nq: number, nk: number, qBlock: number, kBlock: number): Uint8Array {
  const nKB = Math.ceil(nk / kBlock);
  const out = new Uint8Array(nq * nk);
  const off = nk - nq;
  for (let i = 0; i < nq; i++) for (let j = 0; j <= Math.min(nk - 1, i + off); j++) {
    out[i * nk + j] = table[Math.floor(i / qBlock) * nKB + Math.floor(j / kBlock)] ? 1 : 0;
  }
  return out;
}

/** The k largest of xs (ties: lower index first), indices descending by value. */
export function topIndices(xs: ArrayLike<number>, len: number, k: number): number[] {
  const idx = Array.from({ length: len }, (_, j) => j);
  idx.sort((a, b) => xs[b]! - xs[a]! || a - b);
  return idx.slice(0, Math.max(0, Math.min(k, len)));
}

/** Oracle block top-k per query block from block-pooled true attention mass: a table [nQB, nKB] (diagonal always kept). */
export function oracleTopK(p: ArrayLike<number>, nq: number, nk: number, block: number, k: number): Int32Array {
  const nQB = Math.ceil(nq / block);
  const nKB = Math.ceil(nk / block);
  const mass = blockMass(p, nq, nk, block);
  const t = new Int32Array(nQB * nKB);
  const off = nk - nq;
  for (let qb = 0; qb < nQB; qb++) {
    const last = Math.min(nKB - 1, Math.floor((Math.min(nq - 1, (qb + 1) * block - 1) + off) / block));
    t[qb * nKB + last] = 1;
    for (const kb of topIndices(mass.subarray(qb * nKB, (qb + 1) * nKB), last + 1, k)) t[qb * nKB + kb] = 1;
  }
  return t;
}

/** Attention mass per tile [nQB, nKB], summed over each query block's rows. */
export function blockMass(p: ArrayLike<number>, nq: number, nk: number, block: number): Float64Array {
  const nQB = Math.ceil(nq / block);
  const nKB = Math.ceil(nk / block);
  const m = new Float64Array(nQB * nKB);
  for (let i = 0; i < nq; i++) for (let j = 0; j < nk; j++) m[Math.floor(i / block) * nKB + Math.floor(j / block)] += p[i * nk + j]!;
  return m;
}
