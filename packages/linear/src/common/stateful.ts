/**
 * The decode rule shared by this package's recurrent variants: with a KV cache (k, v are then
 * this call's new tokens) the state comes from, and goes back to, the cache (lightning/state.ts);
 * a call from position 0 starts afresh. Without a cache, ctx.state in and result.state out.
 */
import type { AttentionContext } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';
import { getState, setState } from '../lightning/state.js';

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

/** Run `step(initialState, wantFinalState)` with the state of ctx (cache or ctx.state); store what it returns. */
export async function statefulStep(ctx: AttentionContext, op: string, Nq: number, Nk: number, step: (s0: Tensor | null, wantState: boolean) => Promise<StepResult>): Promise<{ out: Tensor; state?: Tensor }> {
  if (Nk !== Nq) throw new TensorError(op, `q has ${Nq} rows and k ${Nk}: give this step's keys (decode state comes from the cache)`);
  const layer = ctx.layer ?? 0;
  const start = ctx.qPositions ? ctx.qPositions[0]! : 0;
  let s0: Tensor | null = ctx.state;
  if (ctx.cache && start > 0) {
    s0 = getState(ctx.cache, layer, ctx.heads);
    if (!s0) throw new TensorError(op, `no recurrent state in this KV cache for layer ${layer} heads ${ctx.heads?.join(', ') ?? 'all'} at position ${start}; prefill through the same cache first`);
  }
  const r = await step(s0, !!ctx.cache || !!ctx.state);
  if (ctx.cache && r.finalState) setState(ctx.cache, layer, ctx.heads, r.finalState);
  return r.finalState && !ctx.cache ? { out: r.out, state: r.finalState } : { out: r.out };
}
