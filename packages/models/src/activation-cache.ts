/**
 * ActivationCache: activations by TransformerLens hook name (cache['blocks.0.attn.hook_pattern'])
 * plus TransformerLens's helpers in camelCase: accumulatedResid, decomposeResid,
 * stackHeadResults, applyLnToStack, logitAttrs, removeBatchDim. Hook points a variant could not
 * produce are listed by `unavailable()` with the reason, so nothing disappears silently.
 * Helpers are non-enumerable, so Object.keys(cache) lists only hook names.
 */
import { concat, div, embedding, mean, mul, reshape, slice, squeeze, sub, sum, tensor, type Tensor } from '@attnlab/tensor';
import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';

/** What the helpers read from the model. */
export interface CacheModel {
  readonly config: ModelConfig;
  param(name: string): Tensor;
}

/** A stack of residual components [C, B, N, D] and a label per component. */
export interface ResidStack {
  resid: Tensor;
  labels: string[];
}

export interface ActivationCacheHelpers {
  /** Hook names stored, in forward order. */
  keys(): string[];
  /** Hook points that were asked for but could not be produced, with the reason. */
  unavailable(): Record<string, string>;
  /** @internal recorded by the model during runWithCache. */
  markUnavailable(name: string, why: string): void;
  /**
   * The residual stream before each layer up to `layer` (default: all, plus the final one):
   * labels '0_pre', ('0_mid'), '1_pre', ..., 'final_post'. applyLn: see applyLnToStack.
   */
  accumulatedResid(layer?: number, opts?: { inclMid?: boolean; applyLn?: boolean }): ResidStack;
  /** The residual before `layer` (default: final) split into embed, pos_embed, {l}_attn_out, {l}_mlp_out; they sum to it. */
  decomposeResid(layer?: number, opts?: { applyLn?: boolean }): ResidStack;
  /** Per-head outputs (hook_result) of the layers before `layer` (default all): labels 'L{l}H{h}'. */
  stackHeadResults(layer?: number, opts?: { applyLn?: boolean }): ResidStack;
  /**
   * Centre each component (layernorm) and divide by the cached hook_scale of ln1 of `layer` (or
   * ln_final when layer is absent or nLayers), times the norm weight: the components then sum to
   * the normalised input minus the norm bias (this model does not fold norms into weights).
   */
  applyLnToStack(stack: Tensor, layer?: number): Tensor;
  /**
   * Each component's direct logit: stack [C, B, N, D] · W_U[token] -> [C, B, N]; tokens is one
   * id, one per batch row, or [B, N] ids; `incorrectTokens` subtracts (logit differences).
   */
  logitAttrs(stack: Tensor, tokens: number | readonly number[] | Tensor, incorrectTokens?: number | readonly number[] | Tensor): Tensor;
  /** A cache of batch-1 activations with the batch axis removed. */
  removeBatchDim(): ActivationCache;
}

export type ActivationCache = Record<string, Tensor> & ActivationCacheHelpers;

interface Internals {
  model: CacheModel;
  missing: Record<string, string>;
}

const internals = new WeakMap<object, Internals>();

function get(c: ActivationCache, name: string): Tensor {
  const t = c[name];
  if (!t) throw new ModelError('ActivationCache', `'${name}' is not in the cache (runWithCache stores it unless names leaves it out)${internals.get(c)?.missing[name] ? `: ${internals.get(c)!.missing[name]}` : ''}`);
  return t;
}

function stack(parts: Tensor[]): Tensor {
  return concat(parts.map((p) => reshape(p, [1, ...p.shape])), 0);
}

function checkLayer(c: ActivationCache, layer: number | undefined): number {
  const L = internals.get(c)!.model.config.nLayers;
  const l = layer ?? L;
  if (!Number.isInteger(l) || l < 0 || l > L) throw new ModelError('ActivationCache', `layer ${layer} is out of range [0, ${L}]`);
  return l;
}

/** Token ids as an int32 [B, N] tensor like `like` [.., B, N, D]. */
function tokenGrid(t: number | readonly number[] | Tensor, B: number, N: number, like: Tensor): Tensor {
  if (typeof t === 'number') return tensor(new Int32Array(B * N).fill(t), [B, N], { device: like.device, dtype: 'int32' });
  if (Array.isArray(t)) {
    const a = t as readonly number[];
    if (a.length !== B) throw new ModelError('logitAttrs', `got ${a.length} tokens for a batch of ${B}`);
    return tensor(Int32Array.from({ length: B * N }, (_, i) => a[Math.floor(i / N)]!), [B, N], { device: like.device, dtype: 'int32' });
  }
  const tt = t as Tensor;
  if (tt.rank !== 2 || tt.shape[0] !== B || tt.shape[1] !== N) throw new ModelError('logitAttrs', `token tensor must be [${B}, ${N}], got [${tt.shape.join(', ')}]`);
  return tt;
}

const helpers: ActivationCacheHelpers & ThisType<ActivationCache> = {
  keys() {
    return Object.keys(this);
  },
  unavailable() {
    return { ...internals.get(this)!.missing };
  },
  markUnavailable(name, why) {
    internals.get(this)!.missing[name] = why;
  },
  accumulatedResid(layer, opts = {}) {
    const l = checkLayer(this, layer);
    const cfg = internals.get(this)!.model.config;
    const parts: Tensor[] = [];
    const labels: string[] = [];
    for (let i = 0; i <= l; i++) {
      if (i === cfg.nLayers) {
        parts.push(get(this, `blocks.${cfg.nLayers - 1}.hook_resid_post`));
        labels.push('final_post');
        continue;
      }
      parts.push(get(this, `blocks.${i}.hook_resid_pre`));
      labels.push(`${i}_pre`);
      if (opts.inclMid && !cfg.attnOnly && i < l) {
        parts.push(get(this, `blocks.${i}.hook_resid_mid`));
        labels.push(`${i}_mid`);
      }
    }
    const resid = stack(parts);
    return { resid: opts.applyLn ? this.applyLnToStack(resid, l) : resid, labels };
  },
  decomposeResid(layer, opts = {}) {
    const l = checkLayer(this, layer);
    const cfg = internals.get(this)!.model.config;
    const parts: Tensor[] = [get(this, 'hook_embed')];
    const labels = ['embed'];
    if (cfg.positional === 'learned') {
      const pos = get(this, 'hook_pos_embed');
      parts.push(pos);
      labels.push('pos_embed');
    }
    for (let i = 0; i < l; i++) {
      parts.push(get(this, `blocks.${i}.hook_attn_out`));
      labels.push(`${i}_attn_out`);
      if (!cfg.attnOnly) {
        parts.push(get(this, `blocks.${i}.hook_mlp_out`));
        labels.push(`${i}_mlp_out`);
      }
    }
    const resid = stack(parts);
    return { resid: opts.applyLn ? this.applyLnToStack(resid, l) : resid, labels };
  },
  stackHeadResults(layer, opts = {}) {
    const l = checkLayer(this, layer);
    const cfg = internals.get(this)!.model.config;
    const parts: Tensor[] = [];
    const labels: string[] = [];
    for (let i = 0; i < l; i++) {
      const r = get(this, `blocks.${i}.attn.hook_result`); // [B, N, H, D]
      const [B, N, H, D] = r.shape as [number, number, number, number];
      for (let h = 0; h < H; h++) {
        parts.push(reshape(slice(r, [0, 0, h, 0], [B, N, 1, D]), [B, N, D]));
        labels.push(`L${i}H${h}`);
      }
    }
    if (!parts.length) throw new ModelError('stackHeadResults', `no layers before layer ${l} (model has ${cfg.nLayers})`);
    const resid = stack(parts);
    return { resid: opts.applyLn ? this.applyLnToStack(resid, l) : resid, labels };
  },
  applyLnToStack(s, layer) {
    const { model } = internals.get(this)!;
    const cfg = model.config;
    if (cfg.norm === 'none') return s;
    const l = checkLayer(this, layer);
    const [hook, prefix] = l === cfg.nLayers ? ['ln_final.hook_scale', 'ln_f'] : [`blocks.${l}.ln1.hook_scale`, `h.${l}.ln_1`];
    const scale = get(this, hook);
    const centred = cfg.norm === 'layernorm' ? sub(s, mean(s, -1, true)) : s;
    return mul(div(centred, scale), model.param(`${prefix}.weight`));
  },
  logitAttrs(s, tokens, incorrectTokens) {
    const { model } = internals.get(this)!;
    if (s.rank !== 4) throw new ModelError('logitAttrs', `stack must be [C, B, N, D], got [${s.shape.join(', ')}]`);
    const [, B, N] = s.shape as [number, number, number, number];
    const U = model.config.tiedEmbeddings ? model.param('wte.weight') : model.param('lm_head.weight');
    let dir = embedding(U, tokenGrid(tokens, B, N, s)); // [B, N, D]
    if (incorrectTokens !== undefined) dir = sub(dir, embedding(U, tokenGrid(incorrectTokens, B, N, s)));
    return sum(mul(s, reshape(dir, [1, ...dir.shape])), -1);
  },
  removeBatchDim() {
    const { model } = internals.get(this)!;
    const out = makeActivationCache(model);
    for (const name of Object.keys(this)) {
      const t = this[name]!;
      if (t.shape[0] !== 1) throw new ModelError('removeBatchDim', `'${name}' has batch ${t.shape[0]}; only a batch of 1 can be removed`);
      out[name] = squeeze(t, 0);
    }
    Object.assign(internals.get(out)!.missing, internals.get(this)!.missing);
    return out;
  },
};

/** An empty cache bound to a model (runWithCache makes one). */
export function makeActivationCache(model: CacheModel): ActivationCache {
  // A plain object (scopes keep the tensors of plain objects they return); helpers are non-enumerable.
  const c = {} as ActivationCache;
  for (const [k, fn] of Object.entries(helpers)) Object.defineProperty(c, k, { value: fn, enumerable: false });
  Object.defineProperty(c, Symbol.for('Jupyter.display'), {
    enumerable: false,
    value(this: ActivationCache) {
      const missing = Object.entries(internals.get(this)!.missing).map(([n, why]) => `  ${n}: unavailable (${why})`);
      const lines = Object.keys(this).map((n) => `  ${n} [${this[n]!.shape.join(', ')}]`);
      return { 'text/plain': `ActivationCache with ${lines.length} activations\n${[...lines, ...missing].join('\n')}` };
    },
  });
  internals.set(c, { model, missing: {} });
  return c;
}

