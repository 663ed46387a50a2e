/** The 'landmark' variant: landmarkRows per head, then exact attention over the retrieved blocks and the local window (options blockSize, topK, local). */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';
import { runRowTable } from '../block-select/run.js';
import { landmarkParams, landmarkRows, type LandmarkOptions } from './select.js';

export const landmarkVariant: AttentionVariant = {
  name: 'landmark',
  description: 'S3 Landmark-style retrieval: each query keeps its top-k blocks by q·mean(k_block) plus its local window (options blockSize, topK, local, pool)',
  optionNames: ['blockSize', 'topK', 'local', 'pool'],
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    const o: LandmarkOptions = {};
    const pool = ctx.options['pool'];
    if (pool !== undefined) {
      if (pool !== 'mean' && pool !== 'max') throw new TensorError('landmark', `option pool must be 'mean' or 'max', got ${String(pool)}`);
      o.pool = pool;
    }
    for (const n of ['blockSize', 'topK', 'local'] as const) {
      const x = ctx.options[n];
      if (x === undefined) continue;
      if (typeof x !== 'number') throw new TensorError('landmark', `option ${n} must be a number, got ${typeof x}`);
      o[n] = x;
    }
    const p = landmarkParams(o);
    return runRowTable('landmark', q, k, v, ctx, p.bs, p.local, (x) => landmarkRows(x.q, x.k, x.nq, x.nk, x.d, o));
  },
};
