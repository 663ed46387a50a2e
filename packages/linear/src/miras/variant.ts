/**
 * A test-time memory as the attention variant 'miras': each head writes (k_t, v_t) into its
 * memory by one online gradient step and reads it at q_t (memory.ts). Usable per layer/head
 * through model.setAttention; decoding through a KV cache, the memory (and momentum) is the
 * recurrent state the model keeps in that cache. Options: memory, bias, lr, retention, momentum
 * (numbers, or one per model head), gradAt, hidden, activation, seed, initStd, mode, chunkSize,
 * normKeys (L2-normalise q and k per row, as DeltaNet does for a stable delta rule).
 */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { mul, rsqrt, sum, addScalar, TensorError, type Tensor } from '@attnlab/tensor';
import { checkCausalOnly, statefulStep } from '../common/stateful.js';
import { testTimeMemory, type MemoryOptions } from './memory.js';

export const MIRAS_OPTIONS = ['memory', 'bias', 'lr', 'retention', 'momentum', 'gradAt', 'hidden', 'activation', 'seed', 'initStd', 'mode', 'chunkSize', 'normKeys'] as const;

/** A per-model-head option for this slice of heads (a number passes through). */
function sliceGate(g: unknown, name: string, ctx: AttentionContext, H: number): number | number[] | undefined {
  if (g === undefined || typeof g === 'number') return g;
  if (!Array.isArray(g) && !ArrayBuffer.isView(g)) throw new TensorError('miras', `${name} must be a number or one number per head, got ${String(g)}`);
  const a = Array.from(g as ArrayLike<number>);
  if (!ctx.heads) {
    if (a.length !== H) throw new TensorError('miras', `${name} has ${a.length} entries for ${H} heads`);
    return a;
  }
  const bad = ctx.heads.find((h) => h >= a.length);
  if (bad !== undefined) throw new TensorError('miras', `${name} has ${a.length} entries; head ${bad} has none`);
  return ctx.heads.map((h) => a[h]!);
}

const l2norm = (x: Tensor): Tensor => mul(x, rsqrt(addScalar(sum(mul(x, x), [3], true), 1e-12)));

export const mirasVariant: AttentionVariant = {
  name: 'miras',
  description: 'Test-time memory (Miras / Titans): linear or MLP memory written by an online gradient step of a dot-product or L2 attentional bias, retention gate, momentum; state in the decode cache',
  readsCache: true,
  optionNames: MIRAS_OPTIONS,
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    checkCausalOnly(ctx, 'miras');
    const [, H, Nq] = q.shape as [number, number, number, number];
    if (k.shape[1] !== H) throw new TensorError('miras', `needs as many key heads as query heads (got ${k.shape[1]} and ${H})`);
    const o = ctx.options;
    if (o['lr'] === undefined) throw new TensorError('miras', 'option lr (the inner learning rate) is required');
    const norm = o['normKeys'] === true;
    const momentum = sliceGate(o['momentum'], 'momentum', ctx, H);
    const opts: MemoryOptions = {
      memory: (o['memory'] ?? 'linear') as MemoryOptions['memory'],
      bias: (o['bias'] ?? 'l2') as MemoryOptions['bias'],
      lr: sliceGate(o['lr'], 'lr', ctx, H)!,
      retention: sliceGate(o['retention'], 'retention', ctx, H) ?? 0,
      ...(momentum !== undefined ? { momentum } : {}),
      gradAt: (o['gradAt'] ?? 'previous') as MemoryOptions['gradAt'],
      scale: norm ? 1 : ctx.scale,
      ...(o['hidden'] !== undefined ? { hidden: o['hidden'] as number } : {}),
      activation: (o['activation'] ?? 'silu') as MemoryOptions['activation'],
      init: { seed: (o['seed'] ?? 0) as number, ...(o['initStd'] !== undefined ? { std: o['initStd'] as number } : {}), heads: ctx.heads },
      ...(o['mode'] !== undefined ? { mode: o['mode'] as MemoryOptions['mode'] } : {}),
      ...(o['chunkSize'] !== undefined ? { chunkSize: o['chunkSize'] as number } : {}),
    };
    const [qq, kk] = norm ? [l2norm(q), l2norm(k)] : [q, k];
    return statefulStep(ctx, 'miras', Nq, k.shape[2]!, async (s0, wantState) => testTimeMemory(qq, kk, v, { ...opts, initialState: s0, outputFinalState: wantState }));
  },
};
