/**
 * RazorAttention as an attention variant ('razor', options { sinks, window, logCount? }) that decodes
 * through the model's KVCache: give its heads the cache policy `{ sinks, window }` (the cache then
 * holds only sinks + window tokens for them) and the variant adds the compensation token from a
 * recurrent state the cache owns: the running sums of every non-sink key and value seen so far.
 * The mean of the dropped ones is (those sums − the held non-sink tokens' sums) / their count, so
 * nothing evicted is ever read again.
 *
 * Calls it supports: a whole causal sequence without a cache, a prefill from position 0 (any
 * length) and then one token per call; a longer chunk after the prefill is refused (its queries
 * would each need their own dropped set).
 */
import { add, concat, div, exp, maximum, mul, mulScalar, reshape, slice, sub, sum, tensor, type Tensor } from '@attnlab/tensor';
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { HeadsError } from '../errors.js';
import { compensatedAttention } from './compensated.js';

function options(ctx: AttentionContext): { sinks: number; window: number; logCount: boolean } {
  const { sinks, window, logCount } = ctx.options as { sinks?: unknown; window?: unknown; logCount?: unknown };
  if (!Number.isInteger(sinks) || (sinks as number) < 0 || !Number.isInteger(window) || (window as number) < 1) {
    throw new HeadsError('razor', `options need integer sinks >= 0 and window >= 1, got ${JSON.stringify({ sinks, window })}`);
  }
  if (logCount !== undefined && typeof logCount !== 'boolean') throw new HeadsError('razor', `logCount must be true or false, got ${JSON.stringify(logCount)}`);
  return { sinks: sinks as number, window: window as number, logCount: logCount === true };
}

/** Sums over the positions >= sinks of k and v [B, H, n, D] -> [B, H, 2, D] (k row, then v row). */
function nonSinkSums(k: Tensor, v: Tensor, first: number, sinks: number): Tensor {
  const n = k.shape[2]!;
  const skip = Math.min(n, Math.max(0, sinks - first));
  const [B, H, , D] = k.shape as [number, number, number, number];
  if (skip === n) return tensor(new Float32Array(B * H * 2 * D), [B, H, 2, D], { device: k.device });
  const part = (t: Tensor): Tensor => sum(slice(t, [0, 0, skip, 0], [B, H, n - skip, D]), [2], true);
  return concat([part(k), part(v)], 2);
}

async function forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
  const o = options(ctx);
  if (v.shape[3] !== k.shape[3]) throw new HeadsError('razor', `value width ${v.shape[3]} must equal key width ${k.shape[3]} (the state stores both)`);
  if (ctx.scoreMod) throw new HeadsError('razor', 'a scoreMod is not supported');
  const cache = ctx.cache;
  if (!cache) return { out: await compensatedAttention(q, k, v, { ...o, scale: ctx.scale }) };
  const Nq = q.shape[2]!;
  const first = ctx.qPositions ? ctx.qPositions[0]! : 0;
  const layer = ctx.layer ?? 0;
  const heads = ctx.heads ?? Array.from({ length: q.shape[1]! }, (_, h) => h);
  if (first === 0) {
    // Prefill from the start: the chunk is the whole prefix.
    return { out: await compensatedAttention(q, k, v, { ...o, scale: ctx.scale }), state: nonSinkSums(k, v, 0, o.sinks) };
  }
  if (Nq !== 1) throw new HeadsError('razor', `through a KV cache, feed one token per call after the prefill (got ${Nq} tokens at position ${first})`);
  const prev = ctx.state;
  if (!prev) throw new HeadsError('razor', `layer ${layer}: no compensation state in the cache at position ${first} (prefill from position 0 through the same cache first)`);
  const state = add(prev, nonSinkSums(k, v, first, o.sinks));
  const held = await cache.gather({ layer, heads });
  if (!held) throw new HeadsError('razor', `layer ${layer} heads ${heads.join(', ')}: rows or heads hold different tokens; give every razor head the same { sinks, window } policy`);
  const t = first; // the query's position
  const keptNonSink = Array.from(held.positions).filter((p) => p >= o.sinks).length;
  const dropped = Math.max(0, t + 1 - o.sinks) - keptNonSink;
  const kept = await cache.attend(q, { layer, scale: ctx.scale, heads, ...(ctx.mask && ctx.mask.kind !== 'blockMask' ? { mask: ctx.mask } : {}) });
  if (dropped <= 0) return { out: kept.out, state };
  const [B, H, , D] = q.shape as [number, number, number, number];
  // Held positions ascend, sinks first: the sums of the held non-sink tokens skip the first sinkHeld.
  const sinkHeld = held.positions.length - keptNonSink;
  const keptSums = nonSinkSums(held.k, held.v, 0, sinkHeld);
  const means = mulScalar(sub(state, keptSums), 1 / dropped);
  const kBar = slice(means, [0, 0, 0, 0], [B, H, 1, D]);
  const vBar = slice(means, [0, 0, 1, 0], [B, H, 1, D]);
  const sc = reshape(mulScalar(sum(mul(q, kBar), [3]), ctx.scale), [B, H, 1]);
  const scOff = o.logCount ? add(sc, tensor(new Float32Array([Math.log(dropped)]), [1], { device: q.device })) : sc;
  const m = maximum(kept.lse, scOff);
  const wa = reshape(exp(sub(kept.lse, m)), [B, H, 1, 1]);
  const wc = reshape(exp(sub(scOff, m)), [B, H, 1, 1]);
  return { out: div(add(mul(kept.out, wa), mul(vBar, wc)), add(wa, wc)), state };
}

export const razorVariant: AttentionVariant = {
  name: 'razor',
  description: "RazorAttention's non-retrieval head: sinks + window plus a compensation token (mean of the dropped keys and values); decodes through a KV cache with a { sinks, window } policy",
  readsCache: true,
  optionNames: ['sinks', 'window', 'logCount'],
  forward,
};
