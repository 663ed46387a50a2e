/**
 * S8 S2-Attention (heterogeneous context sharding): head h of H attends only keys j with
 * (j + offset) mod H = h, so the heads' shards are disjoint and their union is the full
 * context; with the causal mask each head keeps ≈ 1/H of the causal entries. An optional dense
 * local window (not in the abstract) keeps the most recent `local` keys in every head.
 */
import { and, causal, maskMod, or, slidingWindow, type MaskMod } from '@attnlab/attention';
import { TensorError } from '@attnlab/tensor';

export interface S2Options {
  /** Heads sharing the context (H). */
  heads: number;
  /** Per-layer offset o_ℓ (default 0). */
  offset?: number;
  /** Dense local window every head keeps (default 0: none). */
  local?: number;
  /** AND the causal mask (default true). */
  causal?: boolean;
  /**
   * Model heads of the slice this mask is for: mask head index h is model head heads[h]
   * (default 0..H-1). A model's setAttention on a subset of heads passes ctx.heads here.
   */
  headIndex?: readonly number[];
}

/** One mask over all heads (reads h): head h keeps its strided shard. */
export function s2Mask(o: S2Options): MaskMod {
  const H = o.heads;
  if (!Number.isInteger(H) || H < 1) throw new TensorError('s2Mask', `heads must be a positive integer, got ${String(H)}`);
  const off = o.offset ?? 0;
  if (!Number.isInteger(off) || off < 0) throw new TensorError('s2Mask', `offset must be a non-negative integer, got ${String(off)}`);
  const local = o.local ?? 0;
  if (!Number.isInteger(local) || local < 0) throw new TensorError('s2Mask', `local must be a non-negative integer, got ${String(local)}`);
  const idx = Int32Array.from(o.headIndex ?? Array.from({ length: H }, (_, i) => i));
  for (const h of idx) if (h < 0 || h >= H) throw new TensorError('s2Mask', `headIndex ${h} is outside 0..${H - 1}`);
  let m = maskMod((b, h, q, k) => (k + off) % H === idx[h], { captures: { H, off, idx }, name: `s2Shard(H=${H}${off ? `, offset=${off}` : ''})` });
  if (local > 0) m = or(m, slidingWindow(local, { causal: false }));
  return (o.causal ?? true) ? and(causal(), m) : m;
}
