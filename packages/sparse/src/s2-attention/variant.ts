/** The 's2-attention' variant: each head attends its shard (options heads = H of the layer, offset, local). */
import { and, attention, type AttentionContext, type AttentionVariant, type VariantResult } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';
import { s2Mask } from './mask.js';

export const s2Variant: AttentionVariant = {
  name: 's2-attention',
  description: 'S8 S2-Attention: head h attends keys with (k + offset) mod H = h (options heads, offset, local)',
  optionNames: ['heads', 'offset', 'local'],
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    const H = (ctx.options['heads'] as number | undefined) ?? q.shape[1]!;
    if (ctx.mask && ctx.mask.kind === 'blockMask') throw new TensorError('s2-attention', 'pass a MaskMod, not a BlockMask, to combine with the shards');
    const shard = s2Mask({
      heads: H, offset: (ctx.options['offset'] as number | undefined) ?? 0, local: (ctx.options['local'] as number | undefined) ?? 0,
      causal: false, ...(ctx.heads ? { headIndex: ctx.heads } : {}),
    });
    if (!ctx.heads && q.shape[1]! !== H) throw new TensorError('s2-attention', `q has ${q.shape[1]} heads but option heads is ${H}`);
    const r = await attention(q, k, v, { scale: ctx.scale, mask: ctx.mask ? and(ctx.mask, shard) : shard, scoreMod: ctx.scoreMod });
    return { out: r.out, lse: r.lse };
  },
};
