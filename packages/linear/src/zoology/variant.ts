/**
 * The gated convolution as the variant 'gated-conv' (options maxTimescale, timescales, shift): a
 * model layer's q, k, v projections feed y = q * longconv(shift(k) * v) in place of attention, the
 * way Zoology swaps sequence mixers. It does not read the cache: decoding, the model passes all
 * keys and values so far and the convolution is recomputed (exact).
 */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import type { Tensor } from '@attnlab/tensor';
import { checkCausalOnly } from '../common/stateful.js';
import { gatedConv, type GatedConvOptions } from './gated-conv.js';

export const GATED_CONV_OPTIONS = ['maxTimescale', 'timescales', 'shift'] as const;

export const gatedConvVariant: AttentionVariant = {
  name: 'gated-conv',
  description: "Zoology's gated-convolution baseline (H3-lite): q * longconv(shift(k) * v), fixed exponential kernel bank",
  optionNames: GATED_CONV_OPTIONS,
  forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): VariantResult {
    checkCausalOnly(ctx, 'gated-conv');
    return { out: gatedConv(q, k, v, ctx.options as GatedConvOptions) };
  },
};
