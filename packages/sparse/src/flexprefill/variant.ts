/** The 'flexprefill' variant: flexPrefillPlan per head, then exact attention through a BlockMask of its tiles. Options gamma, tau, blockSize. */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';
import { runTileTable } from '../block-select/run.js';
import { flexPrefillPlan, type FlexPrefillOptions } from './plan.js';

export const flexPrefillVariant: AttentionVariant = {
  name: 'flexprefill',
  description: 'S6 FlexPrefill: per head query-aware or vertical-slash tiles by JS distance, cumulative mass gamma (options gamma, tau, blockSize)',
  optionNames: ['gamma', 'tau', 'blockSize'],
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    const o: FlexPrefillOptions = { scale: ctx.scale };
    for (const n of ['gamma', 'tau', 'blockSize'] as const) {
      const x = ctx.options[n];
      if (x === undefined) continue;
      if (typeof x !== 'number') throw new TensorError('flexprefill', `option ${n} must be a number, got ${typeof x}`);
      o[n] = x;
    }
    return runTileTable('flexprefill', q, k, v, ctx, o.blockSize ?? 64, (x) => flexPrefillPlan(x.q, x.k, x.nq, x.nk, x.d, o).table);
  },
};
