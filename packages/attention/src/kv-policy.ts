/**
 * KV-cache eviction policies: the generic interface the cache calls, the two mechanisms core
 * ships (keep everything; sinks + recent window) and a small registry plugins add to.
 *
 * Named paper methods are compositions of these: StreamingLLM is `sinksWindow` on every head;
 * DuoAttention is one policy per head (null on retrieval heads, `sinksWindow` on streaming heads);
 * H2O is a custom object whose `observe` accumulates attention weights and whose `select` keeps
 * the heavy hitters plus a recent window.
 */
import { TensorError } from '@attnlab/tensor';

/** What a policy sees after tokens were appended to one (layer, kv head, batch row). */
export interface KVSelectInfo {
  layer: number;
  head: number;
  batch: number;
  /** Original positions of the tokens held now (the new ones included), ascending. */
  positions: Int32Array;
  /** Position of the first token of this append. */
  first: number;
  /** Tokens seen by this layer so far (the next token's position). */
  total: number;
}

/** Attention weights of one query row over one head's held tokens (for score-based eviction). */
export interface KVObserveInfo {
  layer: number;
  /** The kv head; `queryHead` is the query head (GQA: several per kv head). */
  head: number;
  queryHead: number;
  batch: number;
  /** Position of the query. */
  qpos: number;
  /** Positions of the held tokens and the weight each got (softmax probabilities, sum 1). */
  positions: Int32Array;
  weights: Float64Array;
}

export interface KVPolicy {
  readonly name: string;
  /**
   * Called after every append: the indices (into info.positions, ascending) of the tokens to
   * keep, or null to keep them all. Must keep every token of the append that a later query can see.
   */
  select(info: KVSelectInfo): ArrayLike<number> | null;
  /**
   * A position-only rule, when the policy has one: whether the query at qpos sees the token at
   * kpos. It makes a chunk of queries (prefill) see exactly what the policy would have kept at
   * each of their positions, so the cache equals masked attention with this rule as the mask.
   */
  visible?(kpos: number, qpos: number): boolean;
  /** Attention weights of every attend (H2O-style scores). A policy with observe makes attend take the float64 path. */
  observe?(info: KVObserveInfo): void;
}

/** The plain-object form of sinks + window (also accepted wherever a policy is). */
export interface EvictionPolicy {
  /** First tokens always kept. */
  sinks: number;
  /** Most recent tokens kept. */
  window: number;
}

/** Keep every token (retrieval heads, exact decode). */
export function fullPolicy(): KVPolicy {
  return { name: 'full', select: () => null };
}

/**
 * Keep the first `sinks` tokens and the `window` most recent (StreamingLLM's rule): the query at
 * position t sees keys k < sinks or t - window < k <= t, i.e. or(sinks(s), slidingWindow(w)).
 */
export function sinksWindow(opts: EvictionPolicy): KVPolicy {
  const { sinks, window } = opts;
  if (!Number.isInteger(sinks) || sinks < 0 || !Number.isInteger(window) || window < 1) {
    throw new TensorError('sinksWindow', `needs integer sinks >= 0 and window >= 1, got ${JSON.stringify(opts)}`);
  }
  const visible = (kpos: number, qpos: number): boolean => kpos <= qpos && (kpos < sinks || kpos > qpos - window);
  return {
    name: `sinks-window(${sinks}, ${window})`,
    visible,
    // Tokens the first new query cannot see, no later query can see either.
    select: ({ positions, first }) => {
      const keep: number[] = [];
      for (let i = 0; i < positions.length; i++) if (positions[i]! >= first || visible(positions[i]!, first)) keep.push(i);
      return keep.length === positions.length ? null : keep;
    },
  };
}

/** Anything accepted as one head's policy: a KVPolicy, `{ sinks, window }`, or null (keep all). */
export type PolicyLike = KVPolicy | EvictionPolicy | null;

export function toPolicy(p: PolicyLike | undefined, where: string): KVPolicy | null {
  if (p === null || p === undefined) return null;
  if (typeof (p as KVPolicy).select === 'function') return p as KVPolicy;
  const e = p as Partial<EvictionPolicy>;
  if (typeof e === 'object' && 'window' in e) return sinksWindow({ sinks: e.sinks ?? 0, window: e.window as number });
  throw new TensorError(where, `a policy is a { select(info) } object, { sinks, window }, or null; got ${JSON.stringify(p)}`);
}

export type KVPolicyFactory = (options?: Record<string, unknown>) => KVPolicy;

const policies = new Map<string, KVPolicyFactory>();

/** Register a policy factory by name (a re-run cell replaces it). Returns a disposable that removes it. */
export function registerKVPolicy(name: string, factory: KVPolicyFactory): { dispose(): void } {
  if (typeof name !== 'string' || !name) throw new TensorError('registerKVPolicy', 'name must be a non-empty string');
  if (typeof factory !== 'function') throw new TensorError('registerKVPolicy', `policy '${name}' needs a factory (options) => KVPolicy`);
  policies.set(name, factory);
  return { dispose: () => void (policies.get(name) === factory && policies.delete(name)) };
}

/** A policy by name with its options; unknown names list every registered one. */
export function getKVPolicy(name: string, options?: Record<string, unknown>): KVPolicy {
  const f = policies.get(name);
  if (!f) throw new TensorError('getKVPolicy', `unknown KV policy '${name}' (registered: ${listKVPolicies().join(', ')})`);
  return f(options);
}

/** The factory registered under a name (undefined if none): what a plugin that replaced it restores. */
export function getKVPolicyFactory(name: string): KVPolicyFactory | undefined {
  return policies.get(name);
}

export function listKVPolicies(): string[] {
  return [...policies.keys()];
}

export function unregisterKVPolicy(name: string): boolean {
  return policies.delete(name);
}

registerKVPolicy('full', () => fullPolicy());
registerKVPolicy('sinks-window', (o = {}) => sinksWindow({ sinks: (o['sinks'] as number | undefined) ?? 0, window: o['window'] as number }));
