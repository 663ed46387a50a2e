/**
 * RAT as the variant 'rat' (options chunkSize, decay). It does not read the cache itself: decoding
 * through a KV cache the model hands it every key and value so far and the queries end-aligned, and
 * the chunk summaries are recomputed from them (exact; a dedicated summary cache would hold
 * N/L + 1 vectors per head instead of N, see ratStateBytes).
 */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';
import { checkCausalOnly } from '../common/stateful.js';
import { ratAttention, checkChunkSize } from './attention.js';

export const RAT_OPTIONS = ['chunkSize', 'decay'] as const;

export const ratVariant: AttentionVariant = {
  name: 'rat',
  description: 'RAT: gated recurrence inside chunks of chunkSize, softmax attention over earlier chunks\' end states (L = 1 attention, L >= N an RNN)',
  optionNames: RAT_OPTIONS,
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    checkCausalOnly(ctx, 'rat');
    if (ctx.groupSize !== 1 || k.shape[1] !== q.shape[1]) throw new TensorError('rat', `needs as many key heads as query heads (got ${k.shape[1]} and ${q.shape[1]})`);
    const o = ctx.options;
    const chunkSize = checkChunkSize(o['chunkSize'], 'rat');
    const decay = o['decay'] as number | number[] | undefined;
    const r = await ratAttention(q, k, v, { chunkSize, ...(decay !== undefined ? { decay } : {}), scale: ctx.scale });
    return { out: r.out };
  },
};
