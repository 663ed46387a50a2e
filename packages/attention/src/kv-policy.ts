/**
 * KV-cache eviction policies: the generic interface the cache calls, the mechanisms core ships
 * (keep everything; a policy from a position rule; the `{ sinks, window }` shorthand) and a small
 * registry plugins add to.
 *
 * Named paper methods live in the method packages: StreamingLLM's `sinksWindow` and DuoAttention's
 * per-head policies in @attnlab/sparse (streaming-llm/), which registers 'sinks-window'; H2O is a
 * custom object whose `observe` accumulates attention weights and whose `select` keeps the heavy
 * hitters plus a recent window.
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

/** The plain-object shorthand for sinks + window, accepted wherever a policy is (StreamingLLM's `sinksWindow` is in @attnlab/sparse). */
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
 * A policy from a position rule: the query at qpos sees the token at kpos iff `visible(kpos, qpos)`.
 * The rule must never show a token again once a query stopped seeing it (windows, sinks, their
 * union); `select` then evicts what the first query of an append cannot see, and a chunk of
 * queries sees exactly what the cache would have held at each of their positions.
 */
export function positionPolicy(name: string, visible: (kpos: number, qpos: number) => boolean): KVPolicy {
  if (typeof name !== 'string' || !name) throw new TensorError('positionPolicy', 'name must be a non-empty string');
  if (typeof visible !== 'function') throw new TensorError('positionPolicy', `policy '${name}' needs a visible(kpos, qpos) function`);
  const see = (k: number, q: number): boolean => k <= q && visible(k, q);
  return {
    name,
    visible: see,
    select: ({ positions, first }) => {
      const keep: number[] = [];
      for (let i = 0; i < positions.length; i++) if (positions[i]! >= first || see(positions[i]!, first)) keep.push(i);
      return keep.length === positions.length ? null : keep;
    },
  };
}

/** The `{ sinks, window }` shorthand as a position policy (the first sinks keys and the window most recent). */
function shorthand(opts: EvictionPolicy, where: string): KVPolicy {
  const { sinks, window } = opts;
  if (!Number.isInteger(sinks) || sinks < 0 || !Number.isInteger(window) || window < 1) {
    throw new TensorError(where, `{ sinks, window } needs integer sinks >= 0 and window >= 1, got ${JSON.stringify(opts)}`);
  }
  return positionPolicy(`sinks-window(${sinks}, ${window})`, (k, q) => k < sinks || k > q - window);
}

/** Anything accepted as one head's policy: a KVPolicy, `{ sinks, window }`, or null (keep all). */
export type PolicyLike = KVPolicy | EvictionPolicy | null;

export function toPolicy(p: PolicyLike | undefined, where: string): KVPolicy | null {
  if (p === null || p === undefined) return null;
  if (typeof (p as KVPolicy).select === 'function') return p as KVPolicy;
  const e = p as Partial<EvictionPolicy>;
  if (typeof e === 'object' && 'window' in e) return shorthand({ sinks: e.sinks ?? 0, window: e.window as number }, where);
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
