/**
 * The BASED linear branch as the variant 'based-linear' (Taylor feature map over the first
 * `featureDim` dims of each head's q and k, normalised), with its recurrent state carried in the
 * model's decode cache like 'lightning'. The window branch is the built-in 'softmax' with a
 * slidingWindow mask (useBased sets both). Options: featureDim, mode, chunkSize.
 */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';
import { checkCausalOnly, statefulStep } from '../common/stateful.js';
import { basedLinear, checkFeatureDim } from './attention.js';

export const BASED_LINEAR_OPTIONS = ['featureDim', 'mode', 'chunkSize'] as const;

export const basedLinearVariant: AttentionVariant = {
  name: 'based-linear',
  description: 'BASED linear branch: 2nd-order Taylor feature map over featureDim dims, normalised; recurrent state in the decode cache',
  readsCache: true,
  optionNames: BASED_LINEAR_OPTIONS,
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    checkCausalOnly(ctx, 'based-linear');
    const [, H, Nq, D] = q.shape as [number, number, number, number];
    if (k.shape[1] !== H) throw new TensorError('based-linear', `needs as many key heads as query heads (got ${k.shape[1]} and ${H})`);
    const o = ctx.options;
    const featureDim = checkFeatureDim(o['featureDim'], D, 'based-linear');
    // The model's scale is 1/sqrt(dHead); with d' < dHead the Taylor kernel uses 1/sqrt(d').
    const scale = featureDim === D ? ctx.scale : 1 / Math.sqrt(featureDim);
    return statefulStep(ctx, 'based-linear', Nq, k.shape[2]!, (s0, wantState) => basedLinear(q, k, v, {
      featureDim, scale, mode: (o['mode'] ?? 'chunk') as 'chunk', ...(o['chunkSize'] !== undefined ? { chunkSize: o['chunkSize'] as number } : {}),
      initialState: s0, outputFinalState: wantState,
    }));
  },
};
