/**
 * The 'routing-attention' variant: kmeansRouting per head, then exact attention with the mask
 * "same cluster (or the query's own key), causal". The mask is evaluated over the sequence in its
 * own order, so the kernel visits every causal tile; the routing's saving is what `compute`
 * counts (a kernel over cluster-sorted tokens would realise it). Options clusters, iters, decay, seed.
 */
import { and, attention, maskMod, type AttentionContext, type AttentionVariant, type MaskMod, type VariantResult } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';
import { kmeansRouting, type RoutingOptions } from './kmeans.js';

/** The routing mask of B·H heads: qc [B·H·Nq], kc [B·H·Nk] cluster ids. */
export function routingMask(qc: Int32Array, kc: Int32Array, B: number, H: number, Nq: number, Nk: number): MaskMod {
  if (qc.length !== B * H * Nq || kc.length !== B * H * Nk) throw new TensorError('routingMask', `cluster arrays have ${qc.length} and ${kc.length} entries, expected ${B * H * Nq} and ${B * H * Nk}`);
  const off = Nk - Nq;
  return maskMod(
    (b, h, q, k) => k <= q + off && (k === q + off || qc[(b * H + h) * Nq + q] === kc[(b * H + h) * Nk + k]),
    { captures: { qc, kc, H, Nq, Nk, off }, name: 'routing' },
  );
}

export const routingVariant: AttentionVariant = {
  name: 'routing-attention',
  description: 'S2 Routing Transformer: online k-means over unit q/k (k = sqrt(n) clusters), attention within the query\'s cluster (options clusters, iters, decay, seed)',
  optionNames: ['clusters', 'iters', 'decay', 'seed'],
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new TensorError('routing-attention', `q, k, v must be [B, H, N, D], got ranks ${q.rank}, ${k.rank}, ${v.rank}`);
    if (ctx.mask && ctx.mask.kind === 'blockMask') throw new TensorError('routing-attention', 'pass a MaskMod, not a BlockMask, to combine with the routing');
    if (ctx.returnProbs || ctx.returnScores) throw new TensorError('routing-attention', 'returnProbs/returnScores are not available from this variant');
    const [B, H, Nq, d] = q.shape as [number, number, number, number];
    const Nk = k.shape[2]!;
    if (k.shape[1] !== H) throw new TensorError('routing-attention', `q has ${H} heads and k ${k.shape[1]}; grouped heads are not supported`);
    const o: RoutingOptions = {};
    for (const n of ['clusters', 'iters', 'decay', 'seed'] as const) {
      const x = ctx.options[n];
      if (x === undefined) continue;
      if (typeof x !== 'number') throw new TensorError('routing-attention', `option ${n} must be a number, got ${typeof x}`);
      o[n] = x;
    }
    const [qa, ka] = (await Promise.all([q.data(), k.data()])) as [Float32Array, Float32Array];
    const qc = new Int32Array(B * H * Nq);
    const kc = new Int32Array(B * H * Nk);
    for (let i = 0; i < B * H; i++) {
      const r = kmeansRouting(qa.subarray(i * Nq * d, (i + 1) * Nq * d), ka.subarray(i * Nk * d, (i + 1) * Nk * d), Nq, Nk, d, o);
      qc.set(r.qCluster, i * Nq);
      kc.set(r.kCluster, i * Nk);
    }
    const m = routingMask(qc, kc, B, H, Nq, Nk);
    const r = await attention(q, k, v, { scale: ctx.scale, mask: ctx.mask ? and(ctx.mask as MaskMod, m) : m, ...(ctx.scoreMod ? { scoreMod: ctx.scoreMod } : {}) });
    return { out: r.out, lse: r.lse };
  },
};
