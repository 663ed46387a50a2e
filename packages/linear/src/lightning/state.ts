/**
 * Recurrent state in the model's decode cache. The model hands a variant that `readsCache` the
 * KVCache of the decode plus this step's new k, v; the cache has no slot for a recurrent state,
 * so the state lives beside it here, keyed by the cache object (dropped with it) and by layer and
 * head slice. `stateOnlyPolicy` makes the cache itself keep no old tokens for those heads, so
 * what a decode holds per linear head is the D x Dv state: O(1) in n.
 */
import { type KVCache, type KVPolicy } from '@attnlab/attention';
import { keep, type Tensor } from '@attnlab/tensor';

const states = new WeakMap<KVCache, Map<string, Tensor>>();

const key = (layer: number, heads: readonly number[] | null): string => `${layer}:${heads ? heads.join(',') : '*'}`;

export function getState(cache: KVCache, layer: number, heads: readonly number[] | null): Tensor | null {
  return states.get(cache)?.get(key(layer, heads)) ?? null;
}

/** Store a state (kept out of tensor scopes); the previous one of that slot is disposed. */
export function setState(cache: KVCache, layer: number, heads: readonly number[] | null, s: Tensor | null): void {
  let m = states.get(cache);
  if (!m) states.set(cache, (m = new Map()));
  const k = key(layer, heads);
  const old = m.get(k);
  if (old && old !== s && !old.isDisposed) old.dispose();
  if (s) m.set(k, keep(s));
  else m.delete(k);
}

/** Bytes of every recurrent state held for a cache (float32). */
export function stateBytes(cache: KVCache): number {
  let n = 0;
  for (const t of states.get(cache)?.values() ?? []) n += t.shape.reduce((a, b) => a * b, 1) * 4;
  return n;
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
 * Dispose every recurrent state held for a cache (KVCache.dispose does not know about them; on
 * WebGPU their buffers are freed here, not by the garbage collector).
 */
export function disposeStates(cache: KVCache): void {
  const m = states.get(cache);
  if (!m) return;
  for (const t of m.values()) if (!t.isDisposed) t.dispose();
  states.delete(cache);
}
