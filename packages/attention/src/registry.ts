/**
 * The one attention-variant registry. A variant is `{ name, forward(q, k, v, ctx) }` returning
 * `{ out, lse?, probs?, scores?, state? }`; models pick variants by name per layer and per head,
 * plugins add their own. Built-in variants are in variants.ts.
 */
import { TensorError, type Tensor } from '@attnlab/tensor';
import type { BlockMask } from './blockmask.js';
import type { KVCache } from './kvcache.js';
import { and, causal, toMaskMod, toScoreMod, type MaskLike, type MaskMod, type ScoreFn, type ScoreMod } from './mods/mods.js';

/** Everything a variant is told besides q [B, Hq, Nq, D] and k, v [B, Hkv, Nk, D]. */
export interface AttentionContext {
  /** Score scale (the model's 1/sqrt(dHead)). */
  scale: number;
  /** The effective mask: the caller's causal mask AND the user's mask (null: none). */
  mask: MaskMod | BlockMask | null;
  /** Whether the caller is causal (mask then includes causal()). */
  causal: boolean;
  scoreMod: ScoreMod | null;
  /** Model layer (null outside a model). */
  layer: number | null;
  /**
   * The model's query heads that q's heads are, in order (null: q's own 0..Hq-1). A mask or
   * score mod sees h as the index within this slice.
   */
  heads: readonly number[] | null;
  /** Query heads per kv head in the model (GQA group size; 1 without GQA). */
  groupSize: number;
  /** Original positions of the query rows and of the keys (null: 0..N-1, queries end-aligned). */
  qPositions: Int32Array | null;
  kPositions: Int32Array | null;
  /** Ask for weights [B, Hq, Nq, Nk] (hook_pattern) and pre-normalisation scores (hook_attn_scores). */
  returnProbs: boolean;
  returnScores: boolean;
  /** The KV cache of a decode step (variants with readsCache attend through it), else null. */
  cache: KVCache | null;
  /** Rotary base when the cache stores keys before rotation (positions: 'cache'). */
  rotary: { base: number } | null;
  /**
   * Recurrent state of a stateful variant (e.g. linear attention's S), else null. Decoding through
   * a KV cache, a model gives a `readsCache` variant the state the cache holds for (layer, heads)
   * (`cache.state(layer, heads)`; null at a prefill from position 0) and stores the variant's
   * returned `state` back (`cache.setState`), so the cache owns, counts and frees it.
   */
  state: Tensor | null;
  /** The variant's own options (setAttention's third argument minus mask/scoreMod/scale). */
  options: Record<string, unknown>;
}

export interface VariantResult {
  /** [B, Hq, Nq, Dv] */
  out: Tensor;
  /** [B, Hq, Nq]: log-normaliser per row where the variant has one. */
  lse?: Tensor;
  /** [B, Hq, Nq, Nk] weights with out = probs @ v, when ctx.returnProbs and the variant has them. */
  probs?: Tensor;
  /** [B, Hq, Nq, Nk] pre-normalisation scores (masked: -Infinity), when ctx.returnScores. */
  scores?: Tensor;
  /** Recurrent state after the call, for stateful variants (a model keeps it in its KV cache when decoding). */
  state?: Tensor;
}

export interface AttentionVariant {
  readonly name: string;
  description?: string;
  /** The variant attends through ctx.cache itself (k, v are then this step's new tokens only). */
  readsCache?: boolean;
  /** Names of the options the variant reads from ctx.options (a model rejects others by name); absent: any. */
  optionNames?: readonly string[];
  forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> | VariantResult;
}

/** What registerAttention accepts: a variant (its name is taken from the call), or a bare forward. */
export type VariantInput = Omit<AttentionVariant, 'name'> & { name?: string } | AttentionVariant['forward'];

/** Partial context given by a caller; missing fields get their defaults (user masks are taken as-is). */
export type ContextInput = Partial<Omit<AttentionContext, 'mask' | 'scoreMod'>> & {
  mask?: MaskLike | BlockMask | null;
  scoreMod?: ScoreMod | ScoreFn | null;
};

/** A full context from a partial one: scale 1/sqrt(D), no mask, no cache. */
export function attentionContext(q: Tensor, c: ContextInput = {}): AttentionContext {
  const D = q.shape[q.rank - 1]!;
  const mask = c.mask === undefined || c.mask === null ? null : (c.mask as BlockMask).kind === 'blockMask' ? (c.mask as BlockMask) : toMaskMod(c.mask as MaskLike);
  return {
    scale: c.scale ?? 1 / Math.sqrt(D),
    mask,
    causal: c.causal ?? false,
    scoreMod: c.scoreMod ? toScoreMod(c.scoreMod) : null,
    layer: c.layer ?? null,
    heads: c.heads ?? null,
    groupSize: c.groupSize ?? 1,
    qPositions: c.qPositions ?? null,
    kPositions: c.kPositions ?? null,
    returnProbs: c.returnProbs ?? false,
    returnScores: c.returnScores ?? false,
    cache: c.cache ?? null,
    rotary: c.rotary ?? null,
    state: c.state ?? null,
    options: c.options ?? {},
  };
}

/** The model's causal mask AND a user mask (a BlockMask cannot be combined: pass its MaskMod). */
export function effectiveMask(isCausal: boolean, user: MaskLike | BlockMask | null | undefined): MaskMod | BlockMask | null {
  if (user === undefined || user === null) return isCausal ? causal() : null;
  if ((user as BlockMask).kind === 'blockMask') {
    if (isCausal) throw new TensorError('attention', 'a BlockMask cannot be combined with the causal mask; pass the MaskMod it was built from');
    return user as BlockMask;
  }
  const m = toMaskMod(user as MaskLike);
  return isCausal ? andCausal(m) : m;
}

function andCausal(m: MaskMod): MaskMod {
  return m.isNamed && m.name === 'causal' ? m : and(causal(), m);
}

/** A registered variant: forward takes a partial context (defaults filled in). */
export interface RegisteredVariant extends AttentionVariant {
  forward(q: Tensor, k: Tensor, v: Tensor, ctx?: ContextInput): Promise<VariantResult>;
}

const variants = new Map<string, RegisteredVariant>();

/**
 * Register a variant by name. The same name again replaces it (a re-run notebook cell), without
 * an error. Returns a disposable that removes this registration (if it is still the current one).
 */
export function registerAttention(name: string, impl: VariantInput, _opts?: { replace?: boolean }): { dispose(): void } {
  if (typeof name !== 'string' || !name) throw new TensorError('registerAttention', 'name must be a non-empty string');
  const base = typeof impl === 'function' ? { forward: impl } : impl;
  if (!base || typeof base.forward !== 'function') throw new TensorError('registerAttention', `variant '${name}' needs a forward(q, k, v, ctx) function`);
  const fwd = base.forward.bind(base);
  const v: RegisteredVariant = { ...base, name, forward: async (q, k, vv, ctx) => fwd(q, k, vv, attentionContext(q, ctx)) };
  variants.set(name, v);
  return { dispose: () => void (variants.get(name) === v && variants.delete(name)) };
}

/** A variant by name; unknown names list every registered one. */
export function getAttention(name: string): RegisteredVariant {
  const v = variants.get(name);
  if (!v) throw new TensorError('getAttention', `unknown attention variant '${name}' (registered: ${listAttention().join(', ')})`);
  return v;
}

export function hasAttention(name: string): boolean {
  return variants.has(name);
}

export function listAttention(): string[] {
  return [...variants.keys()];
}

export function unregisterAttention(name: string): boolean {
  return variants.delete(name);
}
