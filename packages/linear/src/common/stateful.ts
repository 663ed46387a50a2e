/**
 * The decode rule shared by this package's recurrent variants: ctx.state in, result.state out.
 * Decoding through a KV cache (k, v are then this call's new tokens) the model reads the state
 * from the cache and stores the returned one back (KVCache.state / setState), so the cache owns,
 * counts and frees it; a call from position 0 starts afresh.
 */
import type { AttentionContext } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';

export interface StepResult {
  out: Tensor;
  finalState?: Tensor;
}

export function checkCausalOnly(ctx: AttentionContext, op: string): void {
  const m = ctx.mask;
  if (!(m === null || (m.kind === 'maskMod' && m.isNamed && m.name === 'causal'))) throw new TensorError(op, `${op} is causal by construction and takes no other mask (got ${String(m)})`);
  if (ctx.scoreMod) throw new TensorError(op, `${op} has no scores: a scoreMod cannot apply`);
  if (ctx.rotary) throw new TensorError(op, "positions: 'cache' (keys stored before rotation) is not supported; use absolute positions");
}

/** Run `step(initialState, wantFinalState)` from ctx.state (or, for a caller that is not a model, the cache's state of the slice); return the final state. */
export async function statefulStep(ctx: AttentionContext, op: string, Nq: number, Nk: number, step: (s0: Tensor | null, wantState: boolean) => Promise<StepResult>): Promise<{ out: Tensor; state?: Tensor }> {
  if (Nk !== Nq) throw new TensorError(op, `q has ${Nq} rows and k ${Nk}: give this step's keys (decode state comes from the cache)`);
  const layer = ctx.layer ?? 0;
  const start = ctx.qPositions ? ctx.qPositions[0]! : 0;
  // A caller that passes the cache but no state (not a model): the cache's state of this slice.
  const s0: Tensor | null = ctx.state ?? (ctx.cache && start > 0 ? ctx.cache.state(layer, ctx.heads) : null);
  if (ctx.cache && start > 0) {
    if (!s0) throw new TensorError(op, `no recurrent state in this KV cache for layer ${layer} heads ${ctx.heads?.join(', ') ?? 'all'} at position ${start}; prefill through the same cache first`);
  }
  const r = await step(s0, !!ctx.cache || !!ctx.state);
  return r.finalState ? { out: r.out, state: r.finalState } : { out: r.out };
}
