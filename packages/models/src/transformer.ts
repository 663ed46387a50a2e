import {
  Rng, add, concat, cpuDevice, customGrad, detach, div, embedding, gelu, isGradEnabled, keep, layerNorm, matmul, matmulBias, mean, mul, noGrad,
  permute, relu, reshape, rmsNorm, rotary, scope, slice, sqrt, square, sub, sum, tensor, toDevice,
  type Device, type Tensor,
} from '@attnlab/tensor';
import {
  KVCache, attentionContext, effectiveMask, getAttention, hasAttention, listAttention, perHead, toMaskMod, toScoreMod,
  type AttentionVariant, type MaskLike, type PolicyLike, type VariantResult,
} from '@attnlab/attention';
import { denseAttention, patternPerturbFor, type PatternPerturb } from './attention.js';
import { makeActivationCache, type ActivationCache } from './activation-cache.js';
import { resolveConfig, type ModelConfig, type ModelConfigInput } from './config.js';
import { ModelError, fmtShape } from './errors.js';
import { HeadControls, gateAndAblate } from './heads.js';
import { hookNames, matches, type BackwardHook, type Hook, type HookContext, type HookFilter } from './hooks.js';

export type TokenInput = Tensor | Int32Array | readonly number[] | readonly (readonly number[])[];

export interface RunOptions {
  hooks?: readonly Hook[];
  /**
   * Hooks on gradients: `[filter, (grad, ctx) => Tensor | void]` runs during `loss.backward()` with
   * the gradient at that hook point and may return a replacement. Needs `grad: true`.
   */
  backwardHooks?: readonly BackwardHook[];
  /**
   * Record autograd and keep intermediates (training). Default false: the run is under
   * noGrad and frees everything except what it returns.
   */
  grad?: boolean;
  /**
   * Continue from @attnlab/attention's KVCache (layers = nLayers, H = nHeads, D = dHead, B = batch):
   * this run's keys and values are appended (its policy evicts) and attention reads the cache.
   */
  kvCache?: KVCache;
}

export interface RunWithCacheOptions extends RunOptions {
  /** Which hook points to store (default: all that fire). */
  names?: HookFilter | readonly HookFilter[];
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  topK?: number;
  seed?: number;
  /** Recompute the whole prefix each step instead of using the KV cache (for checks). */
  useCache?: boolean;
  stopToken?: number;
  /** Decode through this cache (e.g. with an evicting policy); it is left for you to inspect. */
  kvCache?: KVCache;
  /** Policy of the cache generate makes when none is given (see KVCacheOptions.policy). */
  cachePolicy?: PolicyLike | PolicyLike[] | ((layer: number, head: number) => PolicyLike);
  /** RoPE positions of that cache: 'absolute' (default) or 'cache' (StreamingLLM re-indexing). */
  cachePositions?: 'absolute' | 'cache';
}

const RUN_KEYS = ['hooks', 'backwardHooks', 'grad', 'kvCache'] as const;
const GENERATE_KEYS = ['maxNewTokens', 'temperature', 'topK', 'seed', 'useCache', 'stopToken', 'kvCache', 'cachePolicy', 'cachePositions'] as const;

/** Unknown option names are an error naming them (a misspelt option must not be ignored). */
function checkKeys(op: string, options: object, allowed: readonly string[]): void {
  const bad = Object.keys(options).filter((k) => !allowed.includes(k));
  if (bad.length) throw new ModelError(op, `unknown option${bad.length > 1 ? 's' : ''} ${bad.map((b) => `'${b}'`).join(', ')} (known: ${allowed.join(', ')})`);
}

/** Which heads a variant applies to: 'all', a layer, `{ layer, head }`, `{ layer, heads }`, or a predicate. */
export type AttentionSelector = number | 'all' | { layer?: number; head?: number; heads?: readonly number[] } | ((layer: number, head: number) => boolean);

export interface AttentionChoice {
  name: string;
  options: Record<string, unknown>;
}

type Point = (n: string, t: Tensor, l: number | null) => Promise<Tensor>;

/**
 * A decoder-only transformer of the GPT-2 family with TransformerLens hook points.
 * Parameters use GPT-2 (HF) names: `wte.weight`, `wpe.weight`, `h.{l}.ln_1.weight`,
 * `h.{l}.attn.c_attn.weight` ([D, 3·H·Dh], x @ W), `h.{l}.attn.c_proj.weight`, `h.{l}.mlp.c_fc.weight`,
 * `h.{l}.mlp.c_proj.weight`, `ln_f.weight`, `lm_head.weight` (untied only).
 */
export class Transformer {
  readonly config: ModelConfig;
  readonly heads: HeadControls;
  device: Device;
  private readonly params = new Map<string, Tensor>();
  private readonly variants: AttentionChoice[][];
  private readonly persistentHooks: Hook[] = [];
  /** TransformerLens's use_split_qkv_input (setUseSplitQkvInput). */
  private splitQkvInput = false;

  constructor(config: ModelConfigInput, options: { device?: Device; seed?: number; init?: boolean } = {}) {
    this.config = resolveConfig(config);
    this.device = options.device ?? cpuDevice();
    this.heads = new HeadControls(this.config.nLayers, this.config.nHeads);
    // One choice object per setAttention call: heads sharing it run as one slice.
    const softmax: AttentionChoice = { name: 'softmax', options: {} };
    this.variants = Array.from({ length: this.config.nLayers }, () => Array.from({ length: this.config.nHeads }, () => softmax));
    if (options.init !== false) this.initParams(options.seed ?? 0);
  }

  /** Shapes of every parameter by GPT-2 name. */
  paramShapes(): Map<string, number[]> {
    const c = this.config;
    const hd = c.nHeads * c.dHead;
    const s = new Map<string, number[]>();
    s.set('wte.weight', [c.vocabSize, c.dModel]);
    if (c.positional === 'learned') s.set('wpe.weight', [c.nCtx, c.dModel]);
    const norm = (p: string): void => {
      if (c.norm === 'none') return;
      s.set(`${p}.weight`, [c.dModel]);
      if (c.norm === 'layernorm') s.set(`${p}.bias`, [c.dModel]);
    };
    for (let l = 0; l < c.nLayers; l++) {
      norm(`h.${l}.ln_1`);
      s.set(`h.${l}.attn.c_attn.weight`, [c.dModel, 3 * hd]);
      s.set(`h.${l}.attn.c_attn.bias`, [3 * hd]);
      s.set(`h.${l}.attn.c_proj.weight`, [hd, c.dModel]);
      s.set(`h.${l}.attn.c_proj.bias`, [c.dModel]);
      if (!c.attnOnly) {
        norm(`h.${l}.ln_2`);
        s.set(`h.${l}.mlp.c_fc.weight`, [c.dModel, c.dMlp]);
        s.set(`h.${l}.mlp.c_fc.bias`, [c.dMlp]);
        s.set(`h.${l}.mlp.c_proj.weight`, [c.dMlp, c.dModel]);
        s.set(`h.${l}.mlp.c_proj.bias`, [c.dModel]);
      }
    }
    norm('ln_f');
    if (!c.tiedEmbeddings) s.set('lm_head.weight', [c.vocabSize, c.dModel]);
    return s;
  }

  /** GPT-2 initialisation: N(0, initStd), residual projections scaled by 1/sqrt(2·layers). */
  initParams(seed: number): void {
    const rng = new Rng(seed);
    const std = this.config.initStd;
    for (const [name, shape] of this.paramShapes()) {
      const n = shape.reduce((a, b) => a * b, 1);
      const a = new Float32Array(n);
      if (name.endsWith('.bias')) {
        // zeros
      } else if (/ln_\d|ln_f/.test(name)) {
        a.fill(1);
      } else {
        const sd = name.endsWith('c_proj.weight') ? std / Math.sqrt(2 * this.config.nLayers) : std;
        for (let i = 0; i < n; i++) a[i] = sd * rng.normal();
      }
      this.setParam(name, a, shape);
    }
  }

  private setParam(name: string, data: Float32Array, shape: number[]): void {
    this.params.get(name)?.dispose();
    const t = keep(tensor(data, shape, { device: this.device, name }));
    t.requireGrad();
    this.params.set(name, t);
  }

  param(name: string): Tensor {
    const p = this.params.get(name);
    if (!p) throw new ModelError('param', `no parameter '${name}' (have ${[...this.params.keys()].slice(0, 8).join(', ')}, ...)`);
    return p;
  }

  parameters(): Tensor[] {
    return [...this.params.values()];
  }

  namedParameters(): [string, Tensor][] {
    return [...this.params];
  }

  get numParams(): number {
    let n = 0;
    for (const p of this.params.values()) n += p.size;
    return n;
  }

  /** Replace parameters from host arrays; names and shapes must match this config. */
  loadStateDict(state: Map<string, { data: Float32Array; shape: readonly number[] }>, options: { strict?: boolean } = {}): void {
    const shapes = this.paramShapes();
    for (const [name, { data, shape }] of state) {
      const want = shapes.get(name);
      if (!want) {
        if (options.strict !== false) throw new ModelError('loadStateDict', `unexpected tensor '${name}' ${fmtShape(shape)} for this config`);
        continue;
      }
      if (want.length !== shape.length || want.some((d, i) => d !== shape[i])) {
        throw new ModelError('loadStateDict', `tensor '${name}' has shape ${fmtShape(shape)}, the config needs ${fmtShape(want)}`);
      }
      this.setParam(name, data, want);
    }
    if (options.strict !== false) {
      const missing = [...shapes.keys()].filter((n) => !state.has(n));
      if (missing.length) throw new ModelError('loadStateDict', `missing tensors: ${missing.join(', ')}`);
    }
  }

  /** Host copies of every parameter. */
  async stateDict(): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
    const out = new Map<string, { data: Float32Array; shape: number[] }>();
    for (const [name, p] of this.params) out.set(name, { data: (await p.data()) as Float32Array, shape: [...p.shape] });
    return out;
  }

  /** Move parameters to another device. */
  async to(device: Device): Promise<this> {
    if (device === this.device) return this;
    for (const [name, p] of [...this.params]) {
      const moved = keep(await toDevice(p, device));
      moved.name = name;
      moved.requireGrad();
      p.dispose();
      this.params.set(name, moved);
    }
    this.device = device;
    return this;
  }

  /** All hook point names for this config, in forward order. */
  hookNames(): string[] {
    return hookNames(this.config, { splitQkvInput: this.splitQkvInput });
  }

  /** A hook applied on every run until the returned function is called (plugins, widgets). */
  addHook(filter: HookFilter, fn: Hook[1]): () => void {
    const h: Hook = [filter, fn];
    this.persistentHooks.push(h);
    return () => {
      const i = this.persistentHooks.indexOf(h);
      if (i >= 0) this.persistentHooks.splice(i, 1);
    };
  }

    // --------------------------------------------------------------------------------- variants

  /**
   * Use attention variant `name` (any name in @attnlab/attention's registry) for the selected
   * heads. `options.mask` (a MaskMod, a (b, h, q, k) predicate, or one mask per head) is ANDed
   * with the model's causal mask; `scoreMod` and `scale` replace the defaults; every other option
   * goes to the variant as ctx.options (unknown ones are an error when the variant lists its own).
   */
  setAttention(selector: AttentionSelector, name: string, options: Record<string, unknown> = {}): void {
    if (!hasAttention(name)) throw new ModelError('setAttention', `no attention variant '${name}' is registered (have: ${listAttention().join(', ')})`);
    const variant = getAttention(name);
    const { mask, scoreMod, scale, ...rest } = options;
    if (variant.optionNames) {
      const bad = Object.keys(rest).filter((k) => !variant.optionNames!.includes(k));
      if (bad.length) throw new ModelError('setAttention', `variant '${name}' takes no option ${bad.map((b) => `'${b}'`).join(', ')} (it takes mask, scoreMod, scale${variant.optionNames.length ? ', ' + variant.optionNames.join(', ') : ''})`);
    }
    if (scale !== undefined && (typeof scale !== 'number' || !Number.isFinite(scale))) throw new ModelError('setAttention', `scale must be a finite number, got ${String(scale)}`);
    const stored: Record<string, unknown> = { ...options };
    if (mask !== undefined && mask !== null) {
      const masks = Array.isArray(mask) ? mask : [mask];
      for (const m of masks) if ((m as { kind?: string }).kind === 'blockMask') throw new ModelError('setAttention', 'mask: pass a MaskMod (the model ANDs it with causal), not a BlockMask');
      // Compiled now: a bad mask fails here, not mid-forward.
      stored['mask'] = Array.isArray(mask) ? mask.map((m) => toMaskMod(m as MaskLike)) : toMaskMod(mask as MaskLike);
    }
    if (scoreMod !== undefined && scoreMod !== null) stored['scoreMod'] = toScoreMod(scoreMod as Parameters<typeof toScoreMod>[0]);
    const pick = selectorFn(selector, this.config.nLayers, this.config.nHeads);
    // Heads given the same variant and options (in separate calls too) share one choice, so they run as one slice.
    const same = (c: AttentionChoice): boolean => c.name === name && Object.keys(c.options).length === Object.keys(stored).length && Object.keys(stored).every((k) => c.options[k] === stored[k]);
    const choice: AttentionChoice = this.variants.flat().find(same) ?? { name, options: stored };
    let n = 0;
    for (let l = 0; l < this.config.nLayers; l++) {
      for (let h = 0; h < this.config.nHeads; h++) {
        if (pick(l, h)) {
          this.variants[l]![h] = choice;
          n++;
        }
      }
    }
    if (n === 0) throw new ModelError('setAttention', `selector ${JSON.stringify(selector)} matches no head`);
  }

  getAttentionChoice(layer: number, head: number): AttentionChoice {
    const c = this.variants[layer]?.[head];
    if (!c) throw new ModelError('getAttentionChoice', `no head (${layer}, ${head})`);
    return { name: c.name, options: { ...c.options } };
  }

  /** Switch TransformerLens's split q/k/v inputs on: attn.hook_q_input/k_input/v_input [B, N, H, D] fire. */
  setUseSplitQkvInput(on: boolean): void {
    this.splitQkvInput = on;
  }

  /** A KV cache for this model (attention's KVCache with this model's layers, heads and head dim). */
  createKVCache(opts: { batch?: number; policy?: GenerateOptions['cachePolicy']; positions?: 'absolute' | 'cache' } = {}): KVCache {
    const c = this.config;
    return new KVCache({ B: opts.batch ?? 1, H: c.nHeads, D: c.dHead, layers: c.nLayers, policy: opts.policy ?? null, positions: opts.positions ?? 'absolute' });
  }

  // -------------------------------------------------------------------------------- forward

  toTokens(tokens: TokenInput): Tensor {
    if (!Array.isArray(tokens) && !(tokens instanceof Int32Array)) {
      const t = tokens as Tensor;
      if (t.dtype !== 'int32') throw new ModelError('forward', `tokens must be int32, got ${t.dtype} ${fmtShape(t.shape)}`);
      if (t.rank === 1) return reshape(t, [1, t.shape[0]!]);
      if (t.rank !== 2) throw new ModelError('forward', `tokens must be [B, N], got ${fmtShape(t.shape)}`);
      return t;
    }
    const rows: readonly (readonly number[])[] | null = Array.isArray(tokens) && Array.isArray(tokens[0]) ? (tokens as readonly (readonly number[])[]) : null;
    const flat = rows ? rows.flat() : Array.from(tokens as ArrayLike<number>);
    const shape = rows ? [rows.length, rows[0]!.length] : [1, flat.length];
    if (rows && rows.some((r) => r.length !== shape[1])) throw new ModelError('forward', 'token rows have different lengths');
    return tensor(Int32Array.from(flat), shape, { device: this.device, dtype: 'int32' });
  }

  /** Logits [B, N, vocab]. */
  async forward(tokens: TokenInput, options: Omit<RunOptions, 'hooks' | 'backwardHooks'> = {}): Promise<Tensor> {
    checkKeys('forward', options, ['grad', 'kvCache']);
    return this.run(tokens, options);
  }

  /** Forward with hooks (`[nameOrPredicate, (t, ctx) => Tensor | void]`). Returns logits. */
  async run(tokens: TokenInput, options: RunOptions = {}): Promise<Tensor> {
    checkKeys('run', options, RUN_KEYS);
    if (options.backwardHooks?.length && !options.grad) throw new ModelError('run', 'backwardHooks need grad: true (they run during loss.backward())');
    if (options.grad) return this.runInner(tokens, options);
    return noGrad(() => scope(() => this.runInner(tokens, options)));
  }

  /**
   * Forward storing activations by hook name (all points that fire unless `names` narrows it).
   * The cache lists, under `unavailable()`, hook points a variant could not produce (and why).
   */
  async runWithCache(tokens: TokenInput, options: RunWithCacheOptions = {}): Promise<{ logits: Tensor; cache: ActivationCache }> {
    checkKeys('runWithCache', options, [...RUN_KEYS, 'names']);
    if (options.backwardHooks?.length && !options.grad) throw new ModelError('runWithCache', 'backwardHooks need grad: true');
    const filters: readonly HookFilter[] = options.names === undefined ? [() => true] : Array.isArray(options.names) ? (options.names as readonly HookFilter[]) : [options.names as HookFilter];
    const cache = makeActivationCache(this);
    const store: Hook = [(n: string) => filters.some((f) => matches(f, n)), (t: Tensor, ctx: HookContext) => {
      cache[ctx.name] = t;
    }];
    const hooks = [...(options.hooks ?? []), store];
    const { names: _names, ...runOpts } = options;
    void _names;
    const go = async (): Promise<{ logits: Tensor; cache: ActivationCache }> => {
      const logits = await this.runInner(tokens, { ...runOpts, hooks }, (name, why) => {
        if (filters.some((f) => matches(f, name))) cache.markUnavailable(name, why);
      });
      return { logits, cache };
    };
    if (options.grad) return go();
    return noGrad(() => scope(go));
  }

  private checkCache(kv: KVCache, B: number): void {
    const c = this.config;
    if (!(kv instanceof KVCache)) throw new ModelError('forward', 'kvCache must be a KVCache from @attnlab/attention (model.createKVCache() makes one)');
    const want = { layers: c.nLayers, H: c.nHeads, D: c.dHead, B };
    for (const [k, v] of Object.entries(want)) {
      const got = (kv as unknown as Record<string, number>)[k];
      if (got !== v) throw new ModelError('forward', `kvCache has ${k} = ${got}, this run needs ${v} (model.createKVCache({ batch }) makes a matching one)`);
    }
  }

  private async runInner(tokensIn: TokenInput, options: RunOptions, unavailable?: (name: string, why: string) => void): Promise<Tensor> {
    const c = this.config;
    let tokens = this.toTokens(tokensIn);
    if (tokens.device !== this.device) throw new ModelError('forward', `tokens are on ${tokens.device.kind}, the model on ${this.device.kind}`);
    const [B, N] = tokens.shape as [number, number];
    const hooks = [...this.persistentHooks, ...(options.hooks ?? [])];
    const bwd = options.backwardHooks ?? [];
    const kv = options.kvCache;
    if (kv) this.checkCache(kv, B);
    const start = kv ? kv.length : 0;
    if (c.positional === 'learned' && start + N > c.nCtx) throw new ModelError('forward', `sequence of ${start + N} tokens exceeds the context of ${c.nCtx} learned positions`);

    const wants = (name: string): boolean => hooks.some(([f]) => matches(f, name)) || bwd.some(([f]) => matches(f, name));
    const point: Point = async (name, t, layer) => {
      let cur = t;
      for (const [f, fn] of hooks) {
        if (!matches(f, name)) continue;
        const r = await fn(cur, { name, layer });
        if (r && r !== cur) {
          if (r.shape.length !== cur.shape.length || r.shape.some((d, i) => d !== cur.shape[i])) {
            throw new ModelError('hook', `${name}: replacement has shape ${fmtShape(r.shape)}, expected ${fmtShape(cur.shape)}`);
          }
          cur = r;
        }
      }
      const fns = bwd.filter(([f]) => matches(f, name)).map(([, fn]) => fn);
      if (fns.length && cur.requiresGrad && isGradEnabled()) {
        // Identity whose backward hands the gradient to the hooks (which may replace it).
        const seen = cur;
        cur = customGrad(detach(cur), `hook ${name}`, [seen], (g) => {
          let grad = g;
          for (const fn of fns) {
            const r = fn(grad, { name, layer });
            if (r && typeof (r as unknown as Promise<unknown>).then === 'function') throw new ModelError('hook', `${name}: a backward hook must be synchronous`);
            if (r) {
              const rt = r as Tensor;
              if (rt.shape.some((d, i) => d !== grad.shape[i]) || rt.rank !== grad.rank) throw new ModelError('hook', `${name}: gradient replacement has shape ${fmtShape(rt.shape)}, expected ${fmtShape(grad.shape)}`);
              grad = rt;
            }
          }
          return [grad];
        });
      }
      return cur;
    };

    if (wants('hook_tokens')) tokens = await point('hook_tokens', tokens, null);
    let resid = await point('hook_embed', embedding(this.param('wte.weight'), tokens), null);
    if (c.positional === 'learned') {
      const posIdx = new Int32Array(B * N);
      for (let b = 0; b < B; b++) for (let i = 0; i < N; i++) posIdx[b * N + i] = start + i;
      const pos = await point('hook_pos_embed', embedding(this.param('wpe.weight'), tensor(posIdx, [B, N], { device: this.device, dtype: 'int32' })), null);
      resid = add(resid, pos);
    }

    for (let l = 0; l < c.nLayers; l++) {
      const b = `blocks.${l}`;
      resid = await point(`${b}.hook_resid_pre`, resid, l);
      const x1 = await this.norm(`h.${l}.ln_1`, resid, `${b}.ln1`, l, point, wants);
      const attnOut = await point(`${b}.hook_attn_out`, await this.attention(l, resid, x1, B, N, start, kv, wants, point, unavailable), l);
      resid = add(resid, attnOut);
      if (!c.attnOnly) {
        resid = await point(`${b}.hook_resid_mid`, resid, l);
        const mlpIn = await point(`${b}.hook_mlp_in`, resid, l);
        const x2 = await this.norm(`h.${l}.ln_2`, mlpIn, `${b}.ln2`, l, point, wants);
        const pre = await point(`${b}.mlp.hook_pre`, matmulBias(x2, this.param(`h.${l}.mlp.c_fc.weight`), this.param(`h.${l}.mlp.c_fc.bias`)), l);
        const post = await point(`${b}.mlp.hook_post`, c.act === 'gelu' ? gelu(pre) : relu(pre), l);
        const mlpOut = await point(`${b}.hook_mlp_out`, matmulBias(post, this.param(`h.${l}.mlp.c_proj.weight`), this.param(`h.${l}.mlp.c_proj.bias`)), l);
        resid = add(resid, mlpOut);
      }
      resid = await point(`${b}.hook_resid_post`, resid, l);
    }
    const xf = await this.norm('ln_f', resid, 'ln_final', null, point, wants);
    const unembed = c.tiedEmbeddings ? this.param('wte.weight') : this.param('lm_head.weight');
    return matmul(xf, unembed, { transB: true });
  }

  /**
   * LayerNorm / RMSNorm with TransformerLens's hook_scale ([..., 1]: sqrt(var + eps)) and
   * hook_normalized. The fused op serves unless hook_scale is hooked (a replaced scale, e.g. a
   * frozen one for attribution, then divides the centred input).
   */
  private async norm(prefix: string, x: Tensor, hook: string, layer: number | null, point: Point, wants: (n: string) => boolean): Promise<Tensor> {
    const c = this.config;
    if (c.norm === 'none') return x;
    const w = this.param(`${prefix}.weight`);
    let y: Tensor;
    if (wants(`${hook}.hook_scale`)) {
      const xc = c.norm === 'layernorm' ? sub(x, mean(x, -1, true)) : x;
      const scale = await point(`${hook}.hook_scale`, sqrt(add(mean(square(xc), -1, true), tensor(new Float32Array([c.normEps]), [1], { device: x.device }))), layer);
      y = mul(div(xc, scale), w);
      if (c.norm === 'layernorm') y = add(y, this.param(`${prefix}.bias`));
    } else {
      y = c.norm === 'layernorm' ? layerNorm(x, w, this.param(`${prefix}.bias`), c.normEps) : rmsNorm(x, w, c.normEps);
    }
    return point(`${hook}.hook_normalized`, y, layer);
  }

  private async attention(
    l: number, residPre: Tensor, x: Tensor, B: number, N: number, start: number, kv: KVCache | undefined,
    wants: (n: string) => boolean, point: Point, unavailable?: (name: string, why: string) => void,
  ): Promise<Tensor> {
    const c = this.config;
    const H = c.nHeads;
    const Dh = c.dHead;
    const a = `blocks.${l}.attn`;
    const W = this.param(`h.${l}.attn.c_attn.weight`);
    const bias = this.param(`h.${l}.attn.c_attn.bias`);
    let q: Tensor;
    let k: Tensor;
    let v: Tensor;
    // Whether q, k, v come out already in [B, H, N, Dh] (CPU, and no hook wants them as [B, N, H, Dh]).
    const inHeads = this.device.kind === 'cpu' && !this.splitQkvInput && !['hook_q', 'hook_k', 'hook_v', 'hook_rot_q', 'hook_rot_k'].some((n) => wants(`${a}.${n}`));
    if (this.splitQkvInput) {
      // TransformerLens's split inputs: a copy of resid_pre per head for each of q, k, v, each
      // normalised by ln1 and projected by its head's slice of the weights.
      const D = c.dModel;
      const Wr = reshape(W, [D, 3, H, Dh]);
      const br = reshape(bias, [3, H, Dh]);
      const proj = async (i: number, name: string): Promise<Tensor> => {
        const rep = mul(reshape(residPre, [B, N, 1, D]), tensor(new Float32Array(H).fill(1), [1, 1, H, 1], { device: this.device }));
        const inp = await point(`${a}.${name}`, rep, l);
        const xn = await this.norm(`h.${l}.ln_1`, inp, `blocks.${l}.ln1.split`, l, async (_n, t) => t, () => false);
        const wi = permute(reshape(slice(Wr, [0, i, 0, 0], [D, 1, H, Dh]), [D, H, Dh]), [1, 0, 2]); // [H, D, Dh]
        const y = matmul(permute(xn, [0, 2, 1, 3]), reshape(wi, [1, H, D, Dh])); // [B, H, N, Dh]
        return add(permute(y, [0, 2, 1, 3]), reshape(slice(br, [i, 0, 0], [1, H, Dh]), [1, 1, H, Dh]));
      };
      q = await proj(0, 'hook_q_input');
      k = await proj(1, 'hook_k_input');
      v = await proj(2, 'hook_v_input');
    } else if (inHeads) {
      // No q/k/v hook wants [B, N, H, Dh]: each of q, k, v is its own product with a column slice of
      // W, put into heads by one permute. Slicing the fused [B, N, 3D] output instead costs, in the
      // backward, a zero-filled [B, N, 3D] gradient per part and two full-size sums. (On a GPU
      // those are cheap and the fused product needs fewer dispatches.)
      const D = c.dModel;
      const HD = H * Dh;
      const heads = (i: number): Tensor =>
        permute(reshape(matmulBias(x, slice(W, [0, i * HD], [D, HD]), slice(bias, [i * HD], [HD])), [B, N, H, Dh]), [0, 2, 1, 3]);
      q = heads(0);
      k = heads(1);
      v = heads(2);
    } else {
      const qkv = reshape(matmulBias(x, W, bias), [B, N, 3, H, Dh]);
      const part = (i: number): Tensor => reshape(slice(qkv, [0, 0, i, 0, 0], [B, N, 1, H, Dh]), [B, N, H, Dh]);
      q = part(0);
      k = part(1);
      v = part(2);
    }
    // TransformerLens shapes: hook_q/k/v [B, N, H, Dh]; attention works on [B, H, N, Dh].
    if (!inHeads) {
      q = permute(await point(`${a}.hook_q`, q, l), [0, 2, 1, 3]);
      k = permute(await point(`${a}.hook_k`, k, l), [0, 2, 1, 3]);
      v = permute(await point(`${a}.hook_v`, v, l), [0, 2, 1, 3]);
    }
    // 'cache' positions (StreamingLLM): keys are stored before rotation and rotated at their cache index.
    const cachePositions = kv?.positionMode === 'cache' && c.positional === 'rotary';
    if (c.positional === 'rotary' && !cachePositions && !wants(`${a}.hook_rot_q`) && !wants(`${a}.hook_rot_k`)) {
      q = rotary(q, { base: c.rotaryBase, offset: start });
      k = rotary(k, { base: c.rotaryBase, offset: start });
    } else if (c.positional === 'rotary' && !cachePositions) {
      q = permute(await point(`${a}.hook_rot_q`, permute(rotary(q, { base: c.rotaryBase, offset: start }), [0, 2, 1, 3]), l), [0, 2, 1, 3]);
      k = permute(await point(`${a}.hook_rot_k`, permute(rotary(k, { base: c.rotaryBase, offset: start }), [0, 2, 1, 3]), l), [0, 2, 1, 3]);
    } else if (cachePositions) {
      for (const n of ['hook_rot_q', 'hook_rot_k']) unavailable?.(`${a}.${n}`, "positions: 'cache' rotates inside the KV cache");
    }
    if (kv) await kv.append(k, v, { layer: l });

    let z = await this.attendHeads(l, q, k, v, start, kv, cachePositions, wants, point, unavailable);
    z = this.applyHeadControls(l, z);
    // hook_z [B, N, H, Dh]
    const zt = await point(`${a}.hook_z`, permute(z, [0, 2, 1, 3]), l);
    const wo = this.param(`h.${l}.attn.c_proj.weight`);
    const bo = this.param(`h.${l}.attn.c_proj.bias`);
    if (wants(`${a}.hook_result`)) {
      // Per-head contributions to the residual: z_h @ W_O[h] -> [B, N, H, D].
      const woh = reshape(wo, [1, H, Dh, c.dModel]);
      const perHeadOut = matmul(permute(zt, [0, 2, 1, 3]), woh);
      const result = await point(`${a}.hook_result`, permute(perHeadOut, [0, 2, 1, 3]), l);
      return add(sum(result, 2), bo);
    }
    return matmulBias(reshape(zt, [B, N, H * Dh]), wo, bo);
  }

  /**
   * Run each head's variant on its own slice of heads (heads sharing one setAttention call form
   * one slice); returns z [B, H, Nq, Dh]. Scores and pattern hooks see [B, H, Nq, Nk] assembled
   * from the slices; a slice whose variant has no weights makes them unavailable (said by name).
   */
  private async attendHeads(
    l: number, q: Tensor, k: Tensor, v: Tensor, start: number, kv: KVCache | undefined, cachePositions: boolean,
    wants: (n: string) => boolean, point: Point, unavailable?: (name: string, why: string) => void,
  ): Promise<Tensor> {
    const c = this.config;
    const H = c.nHeads;
    const [B, , Nq, Dh] = q.shape as [number, number, number, number];
    const a = `blocks.${l}.attn`;
    const groups: { choice: AttentionChoice; heads: number[] }[] = [];
    this.variants[l]!.forEach((choice, h) => {
      const g = groups.find((x) => x.choice === choice);
      if (g) g.heads.push(h);
      else groups.push({ choice, heads: [h] });
    });
    const wantScores = wants(`${a}.hook_attn_scores`);
    const wantPattern = wants(`${a}.hook_pattern`);
    const perturb = patternPerturbFor(this.heads.layer(l));
    const grad = isGradEnabled() && q.requiresGrad;
    const total = start + Nq;
    const qPositions = Int32Array.from({ length: Nq }, (_, i) => start + i);
    const single = groups.length === 1;

    const results: { heads: number[]; res: VariantResult; name: string }[] = [];
    let inlineHooks = false;
    for (const { choice, heads } of groups) {
      const variant = this.variantOf(choice.name, l);
      const { mask: userMask, scoreMod, scale, ...rest } = choice.options;
      const mask = effectiveFor(choice, heads, H, userMask);
      const qg = pickHeads(q, heads, H);
      let kg = pickHeads(k, heads, H);
      let vg = pickHeads(v, heads, H);
      let kPositions: Int32Array<ArrayBufferLike> = qPositions;
      let qIn = qg;
      const gPerturb = perturb && sliceHeadsPerturb(perturb, heads);
      // A perturbation reshapes softmax weights (temperature on the logits, mixing with identity or
      // uniform rows); other variants' weights are not a softmax row, so say so instead of ignoring it.
      if (gPerturb && (choice.name !== 'softmax' || scoreMod)) {
        const hit = heads.filter((_, i) => gPerturb.temperature[i] !== 1 || gPerturb.toIdentity[i] !== 0 || gPerturb.toUniform[i] !== 0);
        const what = scoreMod ? `'softmax' with a scoreMod` : `variant '${choice.name}'`;
        throw new ModelError('heads', `perturb on layer ${l} head${hit.length > 1 ? 's' : ''} ${hit.join(', ')}: that head runs ${what}; pattern perturbations apply to plain 'softmax' heads only (setAttention them to 'softmax' or clear the perturbation)`);
      }
      let dense = choice.name === 'softmax' && (wantScores || !!gPerturb || (wantPattern && grad)) && !scoreMod;
      let dk = kg;
      let dv = vg;
      let dq = qg;
      if (dense && kv) {
        // Decoding with hooked scores or a perturbation: the dense path over the held tokens, when nothing was evicted.
        const g = await kv.gather({ layer: l, heads });
        const whole = !!g && g.positions.length === total && g.positions[total - 1] === total - 1;
        if (!whole && gPerturb) throw new ModelError('attention', `a pattern perturbation on layer ${l} needs every token; its KV cache evicted some (use a full policy on perturbed heads)`);
        dense = whole;
        if (g && whole) {
          dk = cachePositions ? rotary(g.k, { base: c.rotaryBase, offset: 0 }) : g.k;
          dv = g.v;
          if (cachePositions) dq = rotary(qg, { base: c.rotaryBase, offset: total - Nq });
        }
      }
      if (dense) {
        // Inspectable path: scores and pattern exist here; with one slice the hooks fire inline (replaceable).
        inlineHooks = single;
        const r = await denseAttention(dq, dk, dv, {
          scale: (scale as number | undefined) ?? 1 / Math.sqrt(Dh), mask, ...(gPerturb ? { perturb: gPerturb } : {}),
          ...(single ? { hooks: {
            ...(wantScores ? { scores: (t: Tensor) => point(`${a}.hook_attn_scores`, t, l) } : {}),
            ...(wantPattern ? { pattern: (t: Tensor) => point(`${a}.hook_pattern`, t, l) } : {}),
          } } : {}),
        });
        results.push({ heads, name: choice.name, res: { out: r.out, probs: r.probs, scores: r.scores } });
        continue;
      }
      if (kv && !variant.readsCache) {
        // A variant that does not read the cache gets the held tokens as plain k, v (when nothing was evicted).
        const g = await kv.gather({ layer: l, heads });
        if (!g || g.positions.length !== total || g.positions[g.positions.length - 1] !== total - 1) {
          throw new ModelError('attention', `variant '${choice.name}' (layer ${l}) does not read the KV cache and its heads' tokens were evicted; use 'softmax' on heads with an evicting policy, or a full policy`);
        }
        kg = g.k;
        vg = g.v;
        kPositions = g.positions;
        if (cachePositions) {
          kg = rotary(kg, { base: c.rotaryBase, offset: 0 });
          qIn = rotary(qg, { base: c.rotaryBase, offset: g.positions.length - Nq });
        }
      }
      const ctx = attentionContext(qIn, {
        scale: (scale as number | undefined) ?? 1 / Math.sqrt(Dh), mask, causal: true, scoreMod: (scoreMod as never) ?? null,
        layer: l, heads, groupSize: 1, qPositions, kPositions, returnProbs: wantPattern, returnScores: wantScores,
        cache: kv && variant.readsCache ? kv : null, rotary: cachePositions ? { base: c.rotaryBase } : null, options: rest,
        // The slice's recurrent state lives in the cache (a prefill from 0 starts afresh).
        state: kv && variant.readsCache && start > 0 ? kv.state(l, heads) : null,
      });
      const res = await variant.forward(qIn, kg, vg, ctx);
      if (kv && variant.readsCache && res.state) kv.setState(l, heads, res.state);
      if (res.out.shape[1] !== heads.length || res.out.shape[2] !== Nq) throw new ModelError('attention', `variant '${choice.name}' (layer ${l}) returned out ${fmtShape(res.out.shape)}, expected [${B}, ${heads.length}, ${Nq}, Dv]`);
      results.push({ heads, name: choice.name, res });
    }
    let z = assembleHeads(results.map((r) => ({ heads: r.heads, t: r.res.out })), H);
    if (inlineHooks) return z;
    const missing = (what: 'probs' | 'scores'): string | null => {
      const lack = results.filter((r) => !r.res[what]);
      if (!lack.length) return null;
      const via = kv ? ' decoding through the KV cache' : '';
      return lack.map((r) => `variant '${r.name}' (heads ${r.heads.join(', ')})${via} gives no ${what === 'probs' ? 'weights' : 'scores'}`).join('; ');
    };
    if (wantScores) {
      const why = missing('scores');
      if (why) unavailable?.(`${a}.hook_attn_scores`, why);
      else {
        const s = assembleHeads(results.map((r) => ({ heads: r.heads, t: r.res.scores! })), H);
        const seen = await point(`${a}.hook_attn_scores`, s, l);
        if (seen !== s) throw new ModelError('hook', `${a}.hook_attn_scores: a replacement needs one 'softmax' variant on every head of the layer (dense path)`);
      }
    }
    if (wantPattern) {
      const why = missing('probs');
      if (why) unavailable?.(`${a}.hook_pattern`, why);
      else {
        const p = assembleHeads(results.map((r) => ({ heads: r.heads, t: r.res.probs! })), H);
        const seen = await point(`${a}.hook_pattern`, p, l);
        // A replaced pattern drives z: out = pattern @ v holds for every variant that reports weights.
        if (seen !== p) {
          if (kv) throw new ModelError('hook', `${a}.hook_pattern: replacing the pattern while decoding through a KV cache is not supported`);
          z = matmul(seen, v);
        }
      }
    }
    return z;
  }

  private variantOf(name: string, l: number): AttentionVariant {
    if (!hasAttention(name)) throw new ModelError('attention', `variant '${name}' (layer ${l}) is no longer registered (have: ${listAttention().join(', ')})`);
    return getAttention(name);
  }

  /** Gate and ablation on z [B, H, N, Dh] (heads.ts). */
  private applyHeadControls(l: number, z: Tensor): Tensor {
    return gateAndAblate(this.heads.layer(l), z, this.device);
  }


  // ------------------------------------------------------------------------------ generation

  /**
   * Autoregressive decoding (greedy when temperature is 0, else sampling, optionally top-k): the
   * prompt is prefilled into a KV cache (attention's KVCache: `kvCache`, or one made with
   * `cachePolicy` / `cachePositions`), then each token decodes through it.
   */
  async generate(prompt: TokenInput, options: GenerateOptions): Promise<Tensor> {
    checkKeys('generate', options ?? {}, GENERATE_KEYS);
    if (!options || !Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 0) throw new ModelError('generate', `maxNewTokens must be a non-negative integer, got ${String(options?.maxNewTokens)}`);
    const useCache = options.useCache ?? true;
    if (!useCache && (options.kvCache || options.cachePolicy)) throw new ModelError('generate', 'useCache: false cannot be combined with kvCache or cachePolicy');
    const temperature = options.temperature ?? 0;
    const rng = new Rng(options.seed ?? 0);
    return noGrad(() => scope(async () => {
      const p = this.toTokens(prompt);
      const [B] = p.shape as [number, number];
      const rows: number[][] = [];
      const pd = await p.data();
      for (let b = 0; b < B; b++) rows.push(Array.from(pd.subarray(b * p.shape[1]!, (b + 1) * p.shape[1]!)));
      const own = useCache && !options.kvCache;
      const kv = !useCache ? undefined : options.kvCache ?? this.createKVCache({ batch: B, ...(options.cachePolicy ? { policy: options.cachePolicy } : {}), ...(options.cachePositions ? { positions: options.cachePositions } : {}) });
      if (kv) this.checkCache(kv, B);
      let next: Tensor = p;
      const done = new Array<boolean>(B).fill(false);
      try {
        for (let step = 0; step < options.maxNewTokens; step++) {
          const input = useCache ? next : tensor(Int32Array.from(rows.flat()), [B, rows[0]!.length], { device: this.device, dtype: 'int32' });
          const logits = await scope(() => this.runInner(input, kv ? { kvCache: kv } : {}));
          const V = this.config.vocabSize;
          const n = logits.shape[1]!;
          const last = await slice(logits, [0, n - 1, 0], [B, 1, V]).data();
          const chosen: number[] = [];
          for (let b = 0; b < B; b++) {
            const tok = done[b] ? (options.stopToken ?? 0) : sampleRow(last.subarray(b * V, (b + 1) * V) as Float32Array, temperature, options.topK, rng);
            rows[b]!.push(tok);
            chosen.push(tok);
            if (options.stopToken !== undefined && tok === options.stopToken) done[b] = true;
          }
          next = tensor(Int32Array.from(chosen), [B, 1], { device: this.device, dtype: 'int32' });
          if (done.every(Boolean)) break;
        }
      } finally {
        if (own) kv?.dispose();
      }
      return tensor(Int32Array.from(rows.flat()), [B, rows[0]!.length], { device: this.device, dtype: 'int32' });
    }));
  }

  toString(): string {
    const c = this.config;
    return `Transformer(${c.nLayers} layers, ${c.nHeads} heads x ${c.dHead}, d_model ${c.dModel}, ${c.attnOnly ? 'attn-only' : `mlp ${c.dMlp}`}, vocab ${c.vocabSize}, ${c.positional} positions, ${c.norm}, ${this.numParams} params, on ${this.device.kind})`;
  }

  [Symbol.for('Jupyter.display')](): Record<string, unknown> {
    return { 'text/plain': this.toString() };
  }
}

function selectorFn(sel: AttentionSelector, L: number, H: number): (l: number, h: number) => boolean {
  if (sel === 'all') return () => true;
  if (typeof sel === 'number') {
    if (!Number.isInteger(sel) || sel < 0 || sel >= L) throw new ModelError('setAttention', `layer ${sel} is out of range (model has ${L})`);
    return (l) => l === sel;
  }
  if (typeof sel === 'function') return sel;
  if (sel.layer !== undefined && (!Number.isInteger(sel.layer) || sel.layer < 0 || sel.layer >= L)) throw new ModelError('setAttention', `layer ${sel.layer} is out of range (model has ${L})`);
  if (sel.head !== undefined && sel.heads !== undefined) throw new ModelError('setAttention', 'give head or heads, not both');
  const heads = sel.heads ?? (sel.head !== undefined ? [sel.head] : undefined);
  for (const h of heads ?? []) if (!Number.isInteger(h) || h < 0 || h >= H) throw new ModelError('setAttention', `head ${h} is out of range (${H} per layer)`);
  return (l, h) => (sel.layer === undefined || sel.layer === l) && (heads === undefined || heads.includes(h));
}

/** Pick a token from one row of logits. */
export function sampleRow(logits: Float32Array, temperature: number, topK: number | undefined, rng: Rng): number {
  const V = logits.length;
  if (!(temperature > 0)) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  let idx = Array.from({ length: V }, (_, i) => i);
  if (topK && topK > 0 && topK < V) idx = idx.sort((x, y) => logits[y]! - logits[x]!).slice(0, topK);
  let m = -Infinity;
  for (const i of idx) m = Math.max(m, logits[i]!);
  const w = idx.map((i) => Math.exp((logits[i]! - m) / temperature));
  const total = w.reduce((s, x) => s + x, 0);
  let r = rng.uniform() * total;
  for (let j = 0; j < idx.length; j++) {
    r -= w[j]!;
    if (r <= 0) return idx[j]!;
  }
  return idx[idx.length - 1]!;
}

const effectiveMasks = new WeakMap<AttentionChoice, Map<string, ReturnType<typeof effectiveMask>>>();

/** The slice's effective mask (causal AND the user's), built once per choice and slice. */
function effectiveFor(choice: AttentionChoice, heads: readonly number[], H: number, userMask: unknown): ReturnType<typeof effectiveMask> {
  let byHeads = effectiveMasks.get(choice);
  if (!byHeads) effectiveMasks.set(choice, (byHeads = new Map()));
  const key = heads.join(',');
  if (byHeads.has(key)) return byHeads.get(key)!;
  const m = Array.isArray(userMask)
    ? perHead(userMask.length === H && heads.length !== H ? heads.map((h) => userMask[h] as MaskLike) : (userMask as MaskLike[]))
    : (userMask as MaskLike | null | undefined);
  const eff = effectiveMask(true, m);
  byHeads.set(key, eff);
  return eff;
}

/** Heads `heads` of t [B, H, N, D] (t itself when they are all heads in order). */
function pickHeads(t: Tensor, heads: readonly number[], H: number): Tensor {
  const [B, , N, D] = t.shape as [number, number, number, number];
  if (heads.length === H && heads.every((h, i) => h === i)) return t;
  if (heads.every((h, i) => h === heads[0]! + i)) return slice(t, [0, heads[0]!, 0, 0], [B, heads.length, N, D]);
  return concat(heads.map((h) => slice(t, [0, h, 0, 0], [B, 1, N, D])), 1);
}

/** Per-slice tensors [B, Hg, ...] put back in head order: [B, H, ...]. */
function assembleHeads(parts: { heads: readonly number[]; t: Tensor }[], H: number): Tensor {
  if (parts.length === 1) return parts[0]!.t;
  const byHead: Tensor[] = new Array<Tensor>(H);
  for (const { heads, t } of parts) {
    const rest = t.shape.slice(2);
    heads.forEach((h, i) => {
      byHead[h] = slice(t, [0, i, ...rest.map(() => 0)], [t.shape[0]!, 1, ...rest]);
    });
  }
  return concat(byHead, 1);
}

function sliceHeadsPerturb(p: PatternPerturb, heads: readonly number[]): PatternPerturb | undefined {
  const pick = (a: Float32Array): Float32Array => Float32Array.from(heads, (h) => a[h]!);
  const s: PatternPerturb = { temperature: pick(p.temperature), toIdentity: pick(p.toIdentity), toUniform: pick(p.toUniform) };
  const neutral = s.temperature.every((t) => t === 1) && s.toIdentity.every((x) => x === 0) && s.toUniform.every((x) => x === 0);
  return neutral ? undefined : s;
}
