/**
 * Aaren as the variant 'aaren': each head attends with one fixed query (option `query`: one
 * D-vector per model head, or one shared by all) instead of its per-token q, so o_t is softmax
 * attention of that query over tokens 1..t, computed by the prefix scan. When the model decodes
 * through a KV cache, the (m, u, w) state is carried in that cache: 2 + Dv numbers per head.
 */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { tensor, TensorError, type Tensor } from '@attnlab/tensor';
import { checkCausalOnly, statefulStep } from '../common/stateful.js';
import { aarenScan } from './scan.js';

export const AAREN_OPTIONS = ['query'] as const;

/** The [B, H, D] queries of this slice of heads from the option (per model head or shared). */
function queries(opt: unknown, ctx: AttentionContext, B: number, H: number, D: number, device: Tensor['device']): Tensor {
  const op = 'aaren';
  if (!Array.isArray(opt) || opt.length === 0) throw new TensorError(op, 'option query is required: one D-vector per model head (number[][]) or one shared (number[])');
  const perHead = Array.isArray(opt[0]) || ArrayBuffer.isView(opt[0]);
  const rows: ArrayLike<number>[] = [];
  for (let h = 0; h < H; h++) {
    const mh = ctx.heads ? ctx.heads[h]! : h;
    const row = (perHead ? (opt as ArrayLike<number>[])[mh] : opt) as ArrayLike<number> | undefined;
    if (!row) throw new TensorError(op, `query has ${opt.length} rows; head ${mh} has none`);
    if (row.length !== D) throw new TensorError(op, `query of head ${mh} has ${row.length} entries, the head dim is ${D}`);
    rows.push(row);
  }
  const data = new Float32Array(B * H * D);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) data.set(Array.from(rows[h]!), (b * H + h) * D);
  return tensor(data, [B, H, D], { device });
}

export const aarenVariant: AttentionVariant = {
  name: 'aaren',
  description: 'Attention as an RNN (Aaren): softmax attention of one fixed query per head over tokens 1..t by prefix scan; (m, u, w) state in the decode cache',
  readsCache: true,
  optionNames: AAREN_OPTIONS,
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    checkCausalOnly(ctx, 'aaren');
    const [B, H, Nq, D] = q.shape as [number, number, number, number];
    if (k.shape[1] !== H) throw new TensorError('aaren', `needs as many key heads as query heads (got ${k.shape[1]} and ${H})`);
    const query = queries(ctx.options['query'], ctx, B, H, D, q.device);
    return statefulStep(ctx, 'aaren', Nq, k.shape[2]!, async (s0, wantState) => {
      const r = aarenScan(query, k, v, { scale: ctx.scale, initialState: s0, outputFinalState: wantState });
      return r.finalState ? { out: r.out, finalState: r.finalState } : { out: r.out };
    });
  },
};
