/**
 * Recurrent state in the model's decode cache. The state of each (layer, head slice) lives in the
 * KVCache itself (KVCache.state / setState): the model hands a `readsCache` variant the state as
 * ctx.state and stores the returned one, `cache.bytes()` counts it and `cache.dispose()` frees it.
 * `stateOnlyPolicy` makes the cache keep no old tokens for those heads, so what a decode holds per
 * linear head is the D x Dv state: O(1) in n. The functions below are thin aliases kept for callers.
 */
import { type KVCache, type KVPolicy } from '@attnlab/attention';
import { type Tensor } from '@attnlab/tensor';

/** The state of (layer, heads) in the cache: `cache.state(layer, heads)`. */
export function getState(cache: KVCache, layer: number, heads: readonly number[] | null): Tensor | null {
  return cache.state(layer, heads);
}

/** Store a state (the cache owns it; the slot's previous one is disposed): `cache.setState`. */
export function setState(cache: KVCache, layer: number, heads: readonly number[] | null, s: Tensor | null): void {
  cache.setState(layer, heads, s);
}

/** Bytes of every recurrent state held in a cache: `cache.stateBytes()` (`cache.bytes()` includes them). */
export function stateBytes(cache: KVCache): number {
  return cache.stateBytes();
}

/** A KV policy keeping only the current append (its tokens must stay): no old keys or values. */
export function stateOnlyPolicy(): KVPolicy {
  return {
    name: 'recurrent-state',
    select(info) {
      const keepIdx: number[] = [];
      info.positions.forEach((p, i) => {
        if (p >= info.first) keepIdx.push(i);
      });
      return keepIdx;
    },
  };
}

/**
 * Dispose every recurrent state of a cache, keeping its keys and values.
 * @deprecated `cache.dispose()` frees the states with the rest; `cache.clearStates()` frees only them.
 */
export function disposeStates(cache: KVCache): void {
  cache.clearStates();
}
