/**
 * A BASED hybrid in a model: 'based-linear' on some heads, exact softmax over a sliding window on
 * others, and the KV policy that keeps what each needs for decode (the recurrent state only, or
 * the last W tokens).
 */
import { positionPolicy, slidingWindow, type KVPolicy } from '@attnlab/attention';
import type { AttentionSelector, Transformer } from '@attnlab/models';
import { TensorError } from '@attnlab/tensor';
import { stateOnlyPolicy } from '../lightning/state.js';

export interface BasedHybridOptions {
  /** Heads running the Taylor linear branch. */
  linear: AttentionSelector;
  /** Heads running sliding-window softmax. */
  window: AttentionSelector;
  /** W, the window length. */
  windowSize: number;
  /** d' of the linear branch (default the head dim). */
  featureDim?: number;
  chunkSize?: number;
}

export function useBased(model: Transformer, o: BasedHybridOptions): void {
  if (!Number.isInteger(o.windowSize) || o.windowSize < 1) throw new TensorError('useBased', `windowSize must be a positive integer, got ${String(o.windowSize)}`);
  model.setAttention(o.window, 'softmax', { mask: slidingWindow(o.windowSize) });
  model.setAttention(o.linear, 'based-linear', { ...(o.featureDim !== undefined ? { featureDim: o.featureDim } : {}), ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}) });
}

/** Per (layer, head) decode policy for a model set up by useBased: state only, last W tokens, or all. */
export function basedCachePolicy(model: Transformer, windowSize: number): (layer: number, head: number) => KVPolicy | null {
  return (l, h) => {
    const c = model.getAttentionChoice(l, h);
    if (c.name === 'based-linear' || c.name === 'lightning' || c.name === 'aaren') return stateOnlyPolicy();
    if (c.name === 'softmax' && c.options['mask']) return positionPolicy(`sinks-window(0, ${windowSize})`, (k, q) => k > q - windowSize);
    return null;
  };
}
