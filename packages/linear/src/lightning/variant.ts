/**
 * The TransNormerLLM attention layer as the variant 'lightning': per-head decay lambda, chunked
 * Lightning Attention-2 (block size B), then SRMSNorm over each head's output (TransNormerLLM's
 * simple RMS norm, no weight). Usable per layer/head through model.setAttention; when the model
 * decodes through a KVCache the recurrent state is carried in that cache (state.ts), so decoding
 * reads S instead of the past keys.
 * Options: decay (number, or one per model head), blockSize, mode, norm ('srms' | 'none'), eps.
 */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { rmsNorm, TensorError, type Tensor } from '@attnlab/tensor';
import { checkCausalOnly, statefulStep } from '../common/stateful.js';
import { lightningAttention, type LightningMode } from './attention.js';

export const LIGHTNING_OPTIONS = ['decay', 'blockSize', 'mode', 'norm', 'eps'] as const;

/** The decay of the heads of this slice: a per-model-head array is indexed by ctx.heads. */
function sliceDecay(decay: unknown, ctx: AttentionContext, H: number): number | number[] {
  if (decay === undefined) return 1;
  if (typeof decay === 'number') return decay;
  if (!Array.isArray(decay) && !ArrayBuffer.isView(decay)) throw new TensorError('lightning', `decay must be a number or one number per head, got ${String(decay)}`);
  const a = Array.from(decay as ArrayLike<number>);
  if (ctx.heads && a.length !== H) {
    const bad = ctx.heads.find((h) => h >= a.length);
    if (bad !== undefined) throw new TensorError('lightning', `decay has ${a.length} entries; head ${bad} has none`);
    return ctx.heads.map((h) => a[h]!);
  }
  return a;
}

export const lightningVariant: AttentionVariant = {
  name: 'lightning',
  description: 'TransNormerLLM layer: Lightning Attention-2 with per-head decay, SRMSNorm per head; recurrent state in the decode cache',
  readsCache: true,
  optionNames: LIGHTNING_OPTIONS,
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    checkCausalOnly(ctx, 'lightning');
    const [, H, Nq] = q.shape as [number, number, number, number];
    if (k.shape[1] !== H) throw new TensorError('lightning', `needs as many key heads as query heads (got ${k.shape[1]} and ${H})`);
    const o = ctx.options;
    const norm = (o['norm'] ?? 'srms') as string;
    if (norm !== 'srms' && norm !== 'none') throw new TensorError('lightning', `norm must be 'srms' or 'none', got '${norm}'`);
    const eps = (o['eps'] ?? 1e-6) as number;
    const r = await statefulStep(ctx, 'lightning', Nq, k.shape[2]!, (s0, wantState) => lightningAttention(q, k, v, {
      decay: sliceDecay(o['decay'], ctx, H), mode: (o['mode'] ?? 'chunk') as LightningMode, blockSize: (o['blockSize'] ?? 64) as number,
      scale: ctx.scale, initialState: s0, outputFinalState: wantState,
    }));
    return { ...r, out: norm === 'srms' ? rmsNorm(r.out, undefined, eps) : r.out };
  },
};
