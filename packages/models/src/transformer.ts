import {
  Rng, add, concat, cpuDevice, embedding, gelu, keep, layerNorm, matmul, mean, mul, noGrad, permute,
  relu, reshape, rmsNorm, rotary, scope, slice, sum, tensor, toDevice,
  type Device, type Tensor,
} from '@attnlab/tensor';
import { denseAttention, getAttention, listAttention, patternFromLse, type AttentionImplOptions, type PatternPerturb } from './attention.js';
import { resolveConfig, type ModelConfig, type ModelConfigInput } from './config.js';
import { ModelError, fmtShape } from './errors.js';
import { HeadControls } from './heads.js';
import { hookNames, matches, type ActivationCache, type Hook, type HookContext, type HookFilter } from './hooks.js';

export type TokenInput = Tensor | Int32Array | readonly number[] | readonly (readonly number[])[];

export interface RunOptions {
  hooks?: readonly Hook[];
  /**
   * Record autograd and keep intermediates (training). Default false: the run is under
   * noGrad and frees everything except what it returns.
   */
  grad?: boolean;
  /** Continue from a KV cache (generation); it is extended in place. */
  kvCache?: KVCache;
}

export interface RunWithCacheOptions extends Omit<RunOptions, 'kvCache'> {
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
}

/** Per-layer keys and values [B, H, T, Dh] (after rotary), grown as tokens are decoded. */
export class KVCache {
  readonly k: (Tensor | null)[];
  readonly v: (Tensor | null)[];
  constructor(nLayers: number) {
    this.k = new Array<Tensor | null>(nLayers).fill(null);
    this.v = new Array<Tensor | null>(nLayers).fill(null);
  }
  get length(): number {
    return this.k[0]?.shape[2] ?? 0;
  }
  dispose(): void {
    for (const t of [...this.k, ...this.v]) t?.dispose();
    this.k.fill(null);
    this.v.fill(null);
  }
}

export type AttentionSelector = number | 'all' | { layer?: number; head?: number } | ((layer: number, head: number) => boolean);

export interface AttentionChoice {
  name: string;
  options: Record<string, unknown>;
}

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

  constructor(config: ModelConfigInput, options: { device?: Device; seed?: number; init?: boolean } = {}) {
    this.config = resolveConfig(config);
    this.device = options.device ?? cpuDevice();
    this.heads = new HeadControls(this.config.nLayers, this.config.nHeads);
    this.variants = Array.from({ length: this.config.nLayers }, () =>
      Array.from({ length: this.config.nHeads }, () => ({ name: 'softmax', options: {} })),
    );
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
    return hookNames(this.config);
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
   * Use attention variant `name` (from the registry: 'softmax', 'linear', or anything registered)
   * for the selected layers/heads, with options passed to the impl.
   */
  setAttention(selector: AttentionSelector, name: string, options: Record<string, unknown> = {}): void {
    if (!getAttention(name)) throw new ModelError('setAttention', `no attention variant '${name}' is registered (have: ${listAttention().join(', ')})`);
    const pick = selectorFn(selector, this.config.nLayers, this.config.nHeads);
    let n = 0;
    for (let l = 0; l < this.config.nLayers; l++) {
      for (let h = 0; h < this.config.nHeads; h++) {
        if (pick(l, h)) {
          this.variants[l]![h] = { name, options: { ...options } };
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
  async forward(tokens: TokenInput, options: Omit<RunOptions, 'hooks'> = {}): Promise<Tensor> {
    return this.run(tokens, options);
  }

  /** Forward with hooks (`[nameOrPredicate, (t, ctx) => Tensor | void]`). Returns logits. */
  async run(tokens: TokenInput, options: RunOptions = {}): Promise<Tensor> {
    if (options.grad) return this.runInner(tokens, options);
    return noGrad(() => scope(() => this.runInner(tokens, options)));
  }

  /** Forward storing activations by hook name (all points that fire unless `names` narrows it). */
  async runWithCache(tokens: TokenInput, options: RunWithCacheOptions = {}): Promise<{ logits: Tensor; cache: ActivationCache }> {
    const filters: readonly HookFilter[] = options.names === undefined ? [() => true] : Array.isArray(options.names) ? (options.names as readonly HookFilter[]) : [options.names as HookFilter];
    const cache: ActivationCache = {};
    const store: Hook = [(n: string) => filters.some((f) => matches(f, n)), (t: Tensor, ctx: HookContext) => {
      cache[ctx.name] = t;
    }];
    const hooks = [...(options.hooks ?? []), store];
    const go = async (): Promise<{ logits: Tensor; cache: ActivationCache }> => ({ logits: await this.runInner(tokens, { ...options, hooks }), cache });
    if (options.grad) return go();
    return noGrad(() => scope(go));
  }

  private async runInner(tokensIn: TokenInput, options: RunOptions): Promise<Tensor> {
    const c = this.config;
    const tokens = this.toTokens(tokensIn);
    if (tokens.device !== this.device) throw new ModelError('forward', `tokens are on ${tokens.device.kind}, the model on ${this.device.kind}`);
    const [B, N] = tokens.shape as [number, number];
    const hooks = [...this.persistentHooks, ...(options.hooks ?? [])];
    const kv = options.kvCache;
    const start = kv ? kv.length : 0;
    if (c.positional === 'learned' && start + N > c.nCtx) throw new ModelError('forward', `sequence of ${start + N} tokens exceeds the context of ${c.nCtx} learned positions`);

    const wants = (name: string): boolean => hooks.some(([f]) => matches(f, name));
    const point = async (name: string, t: Tensor, layer: number | null): Promise<Tensor> => {
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
      return cur;
    };

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
      const x1 = await this.norm(`h.${l}.ln_1`, resid, `${b}.ln1.hook_normalized`, l, point);
      const attnOut = await point(`${b}.hook_attn_out`, await this.attention(l, x1, B, N, start, kv, wants, point), l);
      resid = add(resid, attnOut);
      if (!c.attnOnly) {
        resid = await point(`${b}.hook_resid_mid`, resid, l);
        const x2 = await this.norm(`h.${l}.ln_2`, resid, `${b}.ln2.hook_normalized`, l, point);
        const pre = await point(`${b}.mlp.hook_pre`, add(matmul(x2, this.param(`h.${l}.mlp.c_fc.weight`)), this.param(`h.${l}.mlp.c_fc.bias`)), l);
        const post = await point(`${b}.mlp.hook_post`, c.act === 'gelu' ? gelu(pre) : relu(pre), l);
        const mlpOut = await point(`${b}.hook_mlp_out`, add(matmul(post, this.param(`h.${l}.mlp.c_proj.weight`)), this.param(`h.${l}.mlp.c_proj.bias`)), l);
        resid = add(resid, mlpOut);
      }
      resid = await point(`${b}.hook_resid_post`, resid, l);
    }
    const xf = await this.norm('ln_f', resid, 'ln_final.hook_normalized', null, point);
    const unembed = c.tiedEmbeddings ? this.param('wte.weight') : this.param('lm_head.weight');
    return matmul(xf, unembed, { transB: true });
  }

  private async norm(prefix: string, x: Tensor, hook: string, layer: number | null, point: (n: string, t: Tensor, l: number | null) => Promise<Tensor>): Promise<Tensor> {
    const c = this.config;
    if (c.norm === 'none') return x;
    const y = c.norm === 'layernorm'
      ? layerNorm(x, this.param(`${prefix}.weight`), this.param(`${prefix}.bias`), c.normEps)
      : rmsNorm(x, this.param(`${prefix}.weight`), c.normEps);
    return point(hook, y, layer);
  }

  private async attention(
    l: number, x: Tensor, B: number, N: number, start: number, kv: KVCache | undefined,
    wants: (n: string) => boolean, point: (n: string, t: Tensor, l: number | null) => Promise<Tensor>,
  ): Promise<Tensor> {
    const c = this.config;
    const H = c.nHeads;
    const Dh = c.dHead;
    const a = `blocks.${l}.attn`;
    const qkv = reshape(add(matmul(x, this.param(`h.${l}.attn.c_attn.weight`)), this.param(`h.${l}.attn.c_attn.bias`)), [B, N, 3, H, Dh]);
    const part = (i: number): Tensor => reshape(slice(qkv, [0, 0, i, 0, 0], [B, N, 1, H, Dh]), [B, N, H, Dh]);
    // TransformerLens shapes: hook_q/k/v [B, N, H, Dh]; attention works on [B, H, N, Dh].
    let q = permute(await point(`${a}.hook_q`, part(0), l), [0, 2, 1, 3]);
    let k = permute(await point(`${a}.hook_k`, part(1), l), [0, 2, 1, 3]);
    let v = permute(await point(`${a}.hook_v`, part(2), l), [0, 2, 1, 3]);
    if (c.positional === 'rotary') {
      q = permute(await point(`${a}.hook_rot_q`, permute(rotary(q, { base: c.rotaryBase, offset: start }), [0, 2, 1, 3]), l), [0, 2, 1, 3]);
      k = permute(await point(`${a}.hook_rot_k`, permute(rotary(k, { base: c.rotaryBase, offset: start }), [0, 2, 1, 3]), l), [0, 2, 1, 3]);
    }
    if (kv) {
      const pk = kv.k[l];
      const pv = kv.v[l];
      if (pk && pv) {
        k = concat([pk, k], 2);
        v = concat([pv, v], 2);
        pk.dispose();
        pv.dispose();
      }
      kv.k[l] = keep(k);
      kv.v[l] = keep(v);
    }

    let z = await this.attendHeads(l, q, k, v, wants, point);
    z = this.applyHeadControls(l, z);
    // hook_z [B, N, H, Dh]
    const zt = await point(`${a}.hook_z`, permute(z, [0, 2, 1, 3]), l);
    const wo = this.param(`h.${l}.attn.c_proj.weight`);
    const bo = this.param(`h.${l}.attn.c_proj.bias`);
    if (wants(`${a}.hook_result`)) {
      // Per-head contributions to the residual: z_h @ W_O[h] -> [B, N, H, D].
      const woh = reshape(wo, [1, H, Dh, c.dModel]);
      const perHead = matmul(permute(zt, [0, 2, 1, 3]), woh);
      const result = await point(`${a}.hook_result`, permute(perHead, [0, 2, 1, 3]), l);
      return add(sum(result, 2), bo);
    }
    return add(matmul(reshape(zt, [B, N, H * Dh]), wo), bo);
  }

  /** Run each head's attention variant; returns z [B, H, Nq, Dh]. */
  private async attendHeads(l: number, q: Tensor, k: Tensor, v: Tensor, wants: (n: string) => boolean, point: (n: string, t: Tensor, l: number | null) => Promise<Tensor>): Promise<Tensor> {
    const c = this.config;
    const H = c.nHeads;
    const a = `blocks.${l}.attn`;
    const scale = 1 / Math.sqrt(c.dHead);
    const controls = this.heads.layer(l);
    const groups = new Map<string, { choice: AttentionChoice; heads: number[] }>();
    this.variants[l]!.forEach((choice, h) => {
      const key = `${choice.name}:${JSON.stringify(choice.options)}`;
      const g = groups.get(key);
      if (g) g.heads.push(h);
      else groups.set(key, { choice, heads: [h] });
    });
    const wantScores = wants(`${a}.hook_attn_scores`);
    const wantPattern = wants(`${a}.hook_pattern`);

    const runGroup = async (choice: AttentionChoice): Promise<Tensor> => {
      const perturb = perturbFor(controls);
      const plain = choice.name === 'softmax' && Object.keys(choice.options).length === 0;
      if (plain && wantPattern && !wantScores && !perturb && !q.requiresGrad) {
        // Probe path: flash computes z; the pattern is recomputed from its lse for the hook. A hook
        // that replaces the pattern gets z from its replacement, as on the dense path.
        const r = await getAttention('softmax')?.(q, k, v, { scale, causal: true });
        if (r?.lse) {
          const pattern = patternFromLse(q, k, r.lse, { scale, causal: true });
          const seen = await point(`${a}.hook_pattern`, pattern, l);
          return seen === pattern ? r.out : matmul(seen, v);
        }
      }
      if (plain && (wantScores || wantPattern || perturb)) {
        // Inspectable path: scores and pattern exist only here, and only when asked for.
        const r = await denseAttention(q, k, v, {
          scale, causal: true, ...(perturb ? { perturb } : {}),
          hooks: {
            ...(wantScores ? { scores: (t: Tensor) => point(`${a}.hook_attn_scores`, t, l) } : {}),
            ...(wantPattern ? { pattern: (t: Tensor) => point(`${a}.hook_pattern`, t, l) } : {}),
          },
        });
        return r.out;
      }
      const impl = getAttention(choice.name);
      if (!impl) throw new ModelError('attention', `variant '${choice.name}' (layer ${l}) is no longer registered`);
      const opts: AttentionImplOptions = { ...choice.options, scale, causal: true, returnProbs: wantPattern };
      const r = await impl(q, k, v, opts);
      if (wantPattern && r.probs) {
        // Read-only for non-dense variants: the pattern is reported, the output stays the impl's.
        await point(`${a}.hook_pattern`, r.probs, l);
      }
      return r.out;
    };

    if (groups.size === 1) return runGroup([...groups.values()][0]!.choice);
    // Mixed variants in one layer: each variant runs on all heads, heads are then selected.
    let z: Tensor | null = null;
    for (const { choice, heads } of groups.values()) {
      const sel = new Float32Array(H);
      for (const h of heads) sel[h] = 1;
      const part = mul(await runGroup(choice), tensor(sel, [1, H, 1, 1], { device: this.device }));
      z = z ? add(z, part) : part;
    }
    return z!;
  }

  /** Gate and ablation on z [B, H, N, Dh]: z' = z·a[h] + mean(z)·b[h]. */
  private applyHeadControls(l: number, z: Tensor): Tensor {
    const controls = this.heads.layer(l);
    if (controls.every((ctl) => !ctl || ((ctl.gate ?? 1) === 1 && !ctl.ablate))) return z;
    const H = this.config.nHeads;
    const a = new Float32Array(H);
    const bm = new Float32Array(H);
    for (let h = 0; h < H; h++) {
      const ctl = controls[h];
      const g = ctl?.gate ?? 1;
      if (ctl?.ablate === 'zero') a[h] = 0;
      else if (ctl?.ablate === 'mean') {
        a[h] = 0;
        bm[h] = g;
      } else a[h] = g;
    }
    let out = mul(z, tensor(a, [1, H, 1, 1], { device: this.device }));
    if (bm.some((x) => x !== 0)) out = add(out, mul(mean(z, [0, 2], true), tensor(bm, [1, H, 1, 1], { device: this.device })));
    return out;
  }

  // ------------------------------------------------------------------------------ generation

  /** Autoregressive decoding (greedy when temperature is 0, else sampling, optionally top-k). */
  async generate(prompt: TokenInput, options: GenerateOptions): Promise<Tensor> {
    const useCache = options.useCache ?? true;
    const temperature = options.temperature ?? 0;
    const rng = new Rng(options.seed ?? 0);
    return noGrad(() => scope(async () => {
      const p = this.toTokens(prompt);
      const [B] = p.shape as [number, number];
      const rows: number[][] = [];
      const pd = await p.data();
      for (let b = 0; b < B; b++) rows.push(Array.from(pd.subarray(b * p.shape[1]!, (b + 1) * p.shape[1]!)));
      const kv = useCache ? new KVCache(this.config.nLayers) : undefined;
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
        kv?.dispose();
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

function perturbFor(controls: readonly ({ perturb?: { mode: string; strength: number } | null } | undefined)[]): PatternPerturb | undefined {
  if (!controls.some((c) => c?.perturb)) return undefined;
  const H = controls.length;
  const p: PatternPerturb = { temperature: new Float32Array(H).fill(1), toIdentity: new Float32Array(H), toUniform: new Float32Array(H) };
  controls.forEach((c, h) => {
    const pt = c?.perturb;
    if (!pt) return;
    if (pt.mode === 'temperature') p.temperature[h] = pt.strength;
    else if (pt.mode === 'identity') p.toIdentity[h] = Math.min(1, Math.max(0, pt.strength));
    else p.toUniform[h] = Math.min(1, Math.max(0, pt.strength));
  });
  return p;
}

function selectorFn(sel: AttentionSelector, L: number, H: number): (l: number, h: number) => boolean {
  if (sel === 'all') return () => true;
  if (typeof sel === 'number') {
    if (!Number.isInteger(sel) || sel < 0 || sel >= L) throw new ModelError('setAttention', `layer ${sel} is out of range (model has ${L})`);
    return (l) => l === sel;
  }
  if (typeof sel === 'function') return sel;
  if (sel.layer !== undefined && (sel.layer < 0 || sel.layer >= L)) throw new ModelError('setAttention', `layer ${sel.layer} is out of range (model has ${L})`);
  if (sel.head !== undefined && (sel.head < 0 || sel.head >= H)) throw new ModelError('setAttention', `head ${sel.head} is out of range (${H} per layer)`);
  return (l, h) => (sel.layer === undefined || sel.layer === l) && (sel.head === undefined || sel.head === h);
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
