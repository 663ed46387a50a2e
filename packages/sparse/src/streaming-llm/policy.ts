/**
 * StreamingLLM's KV policy (S1): keep S sink tokens and the W most recent. Decode-time key set
 * {0..S-1} ∪ {t-W+1..t}; the prefill mask M[i, j] = (j ≤ i) ∧ (j < S ∨ i − j < W). Built on
 * @attnlab/attention's mechanism (a position policy), so the cache's chunked prefill and decode
 * equal masked attention with `streamingMask(S, W)`. DuoAttention is one of these per streaming
 * head and a full policy on retrieval heads (`duoPolicy`).
 */
import { fullPolicy, or, positionPolicy, sinks as sinksMask, slidingWindow, type KVPolicy, type MaskMod } from '@attnlab/attention';
import { TensorError } from '@attnlab/tensor';

export interface SinksWindowOptions {
  /** First tokens always kept (S). */
  sinks: number;
  /** Most recent tokens kept (W), the current one included. */
  window: number;
}

function check(opts: SinksWindowOptions, where: string): void {
  const { sinks, window } = opts ?? ({} as SinksWindowOptions);
  if (!Number.isInteger(sinks) || sinks < 0 || !Number.isInteger(window) || window < 1) {
    throw new TensorError(where, `needs integer sinks >= 0 and window >= 1, got ${JSON.stringify(opts)}`);
  }
}

/** Keep the first `sinks` tokens and the `window` most recent: the query at t sees k < sinks or t - window < k <= t. */
export function sinksWindow(opts: SinksWindowOptions): KVPolicy {
  check(opts, 'sinksWindow');
  const { sinks, window } = opts;
  return positionPolicy(`sinks-window(${sinks}, ${window})`, (k, q) => k < sinks || k > q - window);
}

/** The same rule as a (causal) mask for a full forward (prefill): or(sinks(S), slidingWindow(W)). */
export function streamingMask(sinks: number, window: number): MaskMod {
  check({ sinks, window }, 'streamingMask');
  return sinks > 0 ? or(sinksMask(sinks), slidingWindow(window)) : slidingWindow(window);
}

/**
 * DuoAttention's split: a full cache on retrieval heads, sinks + window on streaming heads.
 * `retrieval[layer]` lists that layer's retrieval heads; the result is a `(layer, head) => policy`.
 */
export function duoPolicy(retrieval: readonly (readonly number[])[], opts: SinksWindowOptions): (layer: number, head: number) => KVPolicy {
  check(opts, 'duoPolicy');
  const streaming = sinksWindow(opts);
  const full = fullPolicy();
  return (layer, head) => (retrieval[layer]?.includes(head) ? full : streaming);
}

/** The registry factory for 'sinks-window' (options { sinks = 0, window }). */
export const sinksWindowFactory = (o: Record<string, unknown> = {}): KVPolicy => sinksWindow({ sinks: (o['sinks'] as number | undefined) ?? 0, window: o['window'] as number });
