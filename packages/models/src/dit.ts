/**
 * A tiny Diffusion Transformer (DiT, Peebles & Xie) for small images: patch embedding, sinusoidal
 * timestep embedding + MLP, class embedding with a null class for classifier-free guidance,
 * adaLN-Zero blocks with bidirectional attention, a final adaLN + linear back to patches; it
 * predicts the noise ε of a DDPM linear-β schedule. Attention runs the model's inspectable dense
 * softmax path (16 tokens at 16×16 / patch 4), so every HeadControl applies — gate, zero/mean
 * ablation and pattern perturbation (the generic mechanism @attnlab/heads' SoftPAG drives) — and
 * the language model's hook names fire. `sampleDDIM` is a deterministic DDIM sampler with
 * classifier-free guidance and a guidance hook.
 */
import {
  AdamW, Rng, add, clipGradNorm, cpuDevice, embedding, layerNorm, matmul, mean, mul, noGrad, permute, reshape,
  scope, sigmoid, slice, square, sub, tensor, warmupCosine, type Device, type Tensor,
} from '@attnlab/tensor';
import { denseAttention, patternPerturbFor } from './attention.js';
import { ModelError, fmtShape } from './errors.js';
import { readSafetensors } from './safetensors.js';
import { HeadControls, gateAndAblate } from './heads.js';
import { ParamStore, hookPoints, hookedQKV } from './param-store.js';
import { matches, type Hook } from './hooks.js';
import { shapes, type ImageInput, type ShapesOptions } from './vit.js';

export interface DiTConfigInput {
  imageSize: number;
  patchSize: number;
  /** Real classes; id `nClasses` is the null (unconditional) class. */
  nClasses: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Default 1. */
  channels?: number;
  /** Default dModel / nHeads. */
  dHead?: number;
  /** Default 4·dModel. */
  dMlp?: number;
  /** Width of the sinusoidal timestep features (even; default dModel). */
  freqDim?: number;
  /** Diffusion steps of the training schedule (default 1000). */
  timesteps?: number;
  /** Linear β schedule ends (defaults 1e-4, 0.02: DDPM's). */
  betaStart?: number;
  betaEnd?: number;
  normEps?: number;
  initStd?: number;
}

export type DiTConfig = Required<DiTConfigInput> & { nPatches: number };

function resolveDiTConfig(c: DiTConfigInput): DiTConfig {
  for (const k of ['imageSize', 'patchSize', 'nClasses', 'dModel', 'nLayers', 'nHeads'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new ModelError('DiT', `config.${k} must be a positive integer, got ${String(c[k])}`);
  }
  for (const k of ['channels', 'dHead', 'dMlp', 'freqDim', 'timesteps'] as const) {
    const v = c[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new ModelError('DiT', `config.${k} must be a positive integer, got ${String(v)}`);
  }
  if (c.imageSize % c.patchSize !== 0) throw new ModelError('DiT', `config.imageSize ${c.imageSize} is not a multiple of patchSize ${c.patchSize}`);
  if (c.dHead === undefined && c.dModel % c.nHeads !== 0) throw new ModelError('DiT', `config.dModel ${c.dModel} is not divisible by nHeads ${c.nHeads}; give dHead`);
  const freqDim = c.freqDim ?? c.dModel;
  if (freqDim % 2 !== 0) throw new ModelError('DiT', `config.freqDim must be even, got ${freqDim}`);
  const betaStart = c.betaStart ?? 1e-4;
  const betaEnd = c.betaEnd ?? 0.02;
  if (!(betaStart > 0 && betaEnd >= betaStart && betaEnd < 1)) throw new ModelError('DiT', `config betas must satisfy 0 < betaStart <= betaEnd < 1, got ${betaStart}, ${betaEnd}`);
  const side = c.imageSize / c.patchSize;
  return {
    imageSize: c.imageSize, patchSize: c.patchSize, nClasses: c.nClasses, dModel: c.dModel, nLayers: c.nLayers, nHeads: c.nHeads,
    channels: c.channels ?? 1, dHead: c.dHead ?? c.dModel / c.nHeads, dMlp: c.dMlp ?? 4 * c.dModel, freqDim,
    timesteps: c.timesteps ?? 1000, betaStart, betaEnd, normEps: c.normEps ?? 1e-6, initStd: c.initStd ?? 0.02, nPatches: side * side,
  };
}

/** ᾱ_t = Π_{s≤t} (1 − β_s) of the config's linear schedule, t = 0 … timesteps−1. */
export function alphasCumprod(config: Pick<DiTConfig, 'timesteps' | 'betaStart' | 'betaEnd'>): Float64Array {
  const T = config.timesteps;
  const out = new Float64Array(T);
  let a = 1;
  for (let t = 0; t < T; t++) {
    a *= 1 - (T === 1 ? config.betaStart : config.betaStart + ((config.betaEnd - config.betaStart) * t) / (T - 1));
    out[t] = a;
  }
  return out;
}

/** Sinusoidal features [cos(t·f_i), sin(t·f_i)], f_i = 10000^(−i/half) (DiT's order), as [B, dim]. */
export function timestepFeatures(t: ArrayLike<number>, dim: number): Float32Array {
  const half = dim / 2;
  const out = new Float32Array(t.length * dim);
  for (let b = 0; b < t.length; b++) {
    for (let i = 0; i < half; i++) {
      const arg = t[b]! * Math.exp((-Math.log(10000) * i) / half);
      out[b * dim + i] = Math.cos(arg);
      out[b * dim + half + i] = Math.sin(arg);
    }
  }
  return out;
}

export interface DiTRunOptions {
  hooks?: readonly Hook[];
  /** Record autograd (training). Default false: noGrad, intermediates freed. */
  grad?: boolean;
}

const silu = (x: Tensor): Tensor => mul(x, sigmoid(x));
const isRaw = (i: ImageInput): i is { data: Float32Array; shape: readonly number[] } => (i as { data: unknown }).data instanceof Float32Array;

/**
 * Parameters: `patch_embed.weight` [C·P·P, D], `patch_embed.bias`, `pos_embed` [patches, D],
 * `t_embed.fc1` [freqDim, D], `t_embed.fc2` [D, D], `y_embed.weight` [classes + 1, D], per block
 * `h.{l}.adaLN` [D, 6D] (shift/scale/gate for attention, then for the MLP), the LM's
 * `h.{l}.attn.c_attn`, `h.{l}.attn.c_proj`, `h.{l}.mlp.c_fc`, `h.{l}.mlp.c_proj`, then
 * `final.adaLN` [D, 2D] and `final.linear` [D, C·P·P]. Norms have no affine parameters (adaLN
 * supplies them); adaLN and final projections start at zero (adaLN-Zero: each block starts as the identity).
 */
export class DiT {
  readonly config: DiTConfig;
  readonly heads: HeadControls;
  device: Device;
  private readonly params = new ParamStore('DiT');
  private readonly abar: Float64Array;

  constructor(config: DiTConfigInput, options: { device?: Device; seed?: number } = {}) {
    this.config = resolveDiTConfig(config);
    this.device = options.device ?? cpuDevice();
    this.heads = new HeadControls(this.config.nLayers, this.config.nHeads);
    this.abar = alphasCumprod(this.config);
    this.initParams(options.seed ?? 0);
  }

  /** ᾱ_t of the training schedule. */
  get alphasCumprod(): Float64Array {
    return this.abar;
  }

  /** A DiT from its config.json object ({ kind: 'dit', ...config }) and model.safetensors bytes. */
  static fromSafetensors(config: DiTConfigInput & { kind?: string }, bytes: Uint8Array, options: { device?: Device } = {}): DiT {
    const { kind, ...cfg } = config;
    if (kind !== undefined && kind !== 'dit') throw new ModelError('DiT', `config.json kind is '${kind}', expected 'dit'`);
    const model = new DiT(cfg, options);
    const state = new Map<string, { data: Float32Array; shape: readonly number[] }>();
    for (const [name, t] of readSafetensors(bytes).tensors) {
      if (!(t.data instanceof Float32Array)) throw new ModelError('DiT', `tensor '${name}' is ${t.dtype}, expected a float type`);
      state.set(name, { data: t.data, shape: t.shape });
    }
    model.loadStateDict(state);
    return model;
  }

  paramShapes(): Map<string, number[]> {
    const c = this.config;
    const D = c.dModel;
    const hd = c.nHeads * c.dHead;
    const F = c.channels * c.patchSize * c.patchSize;
    const s = new Map<string, number[]>();
    s.set('patch_embed.weight', [F, D]);
    s.set('patch_embed.bias', [D]);
    s.set('pos_embed', [c.nPatches, D]);
    s.set('t_embed.fc1.weight', [c.freqDim, D]);
    s.set('t_embed.fc1.bias', [D]);
    s.set('t_embed.fc2.weight', [D, D]);
    s.set('t_embed.fc2.bias', [D]);
    s.set('y_embed.weight', [c.nClasses + 1, D]);
    for (let l = 0; l < c.nLayers; l++) {
      s.set(`h.${l}.adaLN.weight`, [D, 6 * D]);
      s.set(`h.${l}.adaLN.bias`, [6 * D]);
      s.set(`h.${l}.attn.c_attn.weight`, [D, 3 * hd]);
      s.set(`h.${l}.attn.c_attn.bias`, [3 * hd]);
      s.set(`h.${l}.attn.c_proj.weight`, [hd, D]);
      s.set(`h.${l}.attn.c_proj.bias`, [D]);
      s.set(`h.${l}.mlp.c_fc.weight`, [D, c.dMlp]);
      s.set(`h.${l}.mlp.c_fc.bias`, [c.dMlp]);
      s.set(`h.${l}.mlp.c_proj.weight`, [c.dMlp, D]);
      s.set(`h.${l}.mlp.c_proj.bias`, [D]);
    }
    s.set('final.adaLN.weight', [D, 2 * D]);
    s.set('final.adaLN.bias', [2 * D]);
    s.set('final.linear.weight', [D, F]);
    s.set('final.linear.bias', [F]);
    return s;
  }

  /** N(0, initStd) weights, zero biases, zero adaLN and output projection (adaLN-Zero). */
  initParams(seed: number): void {
    const rng = new Rng(seed);
    const std = this.config.initStd;
    for (const [name, shape] of this.paramShapes()) {
      const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
      const zero = name.endsWith('.bias') || name.includes('adaLN') || name.startsWith('final.linear');
      if (!zero) for (let i = 0; i < a.length; i++) a[i] = std * rng.normal();
      this.setParam(name, a, shape);
    }
  }

  private setParam(name: string, data: Float32Array, shape: readonly number[]): void {
    this.params.put(name, data, shape, this.device);
  }


  param(name: string): Tensor {
    return this.params.require(name);
  }


  namedParameters(): [string, Tensor][] {
    return [...this.params];
  }

  parameters(): Tensor[] {
    return [...this.params.values()];
  }

  get numParams(): number {
    return this.params.numel;
  }


  loadStateDict(state: Map<string, { data: Float32Array; shape: readonly number[] }>): void {
    this.params.load(this.paramShapes(), state, this.device);
  }


  stateDict(): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
    return this.params.snapshot();
  }


  hookNames(): string[] {
    const n = ['hook_embed', 'hook_pos_embed', 'hook_t_embed', 'hook_y_embed'];
    for (let l = 0; l < this.config.nLayers; l++) {
      const b = `blocks.${l}`;
      n.push(`${b}.hook_resid_pre`, `${b}.ln1.hook_normalized`, `${b}.attn.hook_q`, `${b}.attn.hook_k`, `${b}.attn.hook_v`, `${b}.attn.hook_attn_scores`,
        `${b}.attn.hook_pattern`, `${b}.attn.hook_z`, `${b}.hook_attn_out`, `${b}.hook_resid_mid`, `${b}.ln2.hook_normalized`,
        `${b}.mlp.hook_pre`, `${b}.mlp.hook_post`, `${b}.hook_mlp_out`, `${b}.hook_resid_post`);
    }
    n.push('ln_final.hook_normalized', 'hook_out');
    return n;
  }

  /**
   * Predicted noise ε [B, C, S, S] for noisy images x_t, integer timesteps t ∈ [0, timesteps) and
   * class ids y ∈ [0, nClasses] (nClasses = the null class), one per image.
   */
  async run(images: ImageInput, t: ArrayLike<number>, y: ArrayLike<number>, options: DiTRunOptions = {}): Promise<Tensor> {
    const bad = Object.keys(options).filter((k) => k !== 'hooks' && k !== 'grad');
    if (bad.length) throw new ModelError('run', `unknown option ${bad.map((b) => `'${b}'`).join(', ')} (known: hooks, grad)`);
    const B = this.checkInputs(images, t, y);
    const run = (): Promise<Tensor> => this.runInner(images, B, t, y, options.hooks ?? []);
    if (options.grad) return run();
    return noGrad(() => scope(run));
  }

  private checkInputs(images: ImageInput, t: ArrayLike<number>, y: ArrayLike<number>): number {
    const c = this.config;
    const S = c.imageSize;
    const shape = images.shape;
    const ok = (shape.length === 4 && shape[1] === c.channels && shape[2] === S && shape[3] === S) || (c.channels === 1 && shape.length === 3 && shape[1] === S && shape[2] === S);
    if (!ok) throw new ModelError('DiT', `images have shape ${fmtShape(shape)}, expected [B, ${c.channels}, ${S}, ${S}]${c.channels === 1 ? ` or [B, ${S}, ${S}]` : ''}`);
    const B = shape[0]!;
    if (isRaw(images) && images.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new ModelError('DiT', `images data has ${images.data.length} values, shape ${fmtShape(shape)} needs ${shape.reduce((a, b) => a * b, 1)}`);
    }
    if (t.length !== B) throw new ModelError('DiT', `timesteps has ${t.length} entries for ${B} images`);
    if (y.length !== B) throw new ModelError('DiT', `class ids has ${y.length} entries for ${B} images`);
    for (let i = 0; i < B; i++) {
      if (!Number.isInteger(t[i]) || t[i]! < 0 || t[i]! >= c.timesteps) throw new ModelError('DiT', `timestep ${t[i]} (image ${i}) must be an integer in [0, ${c.timesteps})`);
      if (!Number.isInteger(y[i]) || y[i]! < 0 || y[i]! > c.nClasses) throw new ModelError('DiT', `class id ${y[i]} (image ${i}) must be an integer in [0, ${c.nClasses}] (${c.nClasses} = null class)`);
    }
    return B;
  }

  /** [B, C, S, S] → patches [B, N, C·P·P] (row-major patch grid, channel then row then column inside a patch). */
  private patchify(x: Tensor, B: number): Tensor {
    const c = this.config;
    const s = c.imageSize / c.patchSize;
    const P = c.patchSize;
    return reshape(permute(reshape(x, [B, c.channels, s, P, s, P]), [0, 2, 4, 1, 3, 5]), [B, s * s, c.channels * P * P]);
  }

  private unpatchify(x: Tensor, B: number): Tensor {
    const c = this.config;
    const s = c.imageSize / c.patchSize;
    const P = c.patchSize;
    return reshape(permute(reshape(x, [B, s, s, c.channels, P, P]), [0, 3, 1, 4, 2, 5]), [B, c.channels, c.imageSize, c.imageSize]);
  }

  private async runInner(images: ImageInput, B: number, t: ArrayLike<number>, y: ArrayLike<number>, hooks: readonly Hook[]): Promise<Tensor> {
    const c = this.config;
    const D = c.dModel;
    const N = c.nPatches;
    const wants = (name: string): boolean => hooks.some(([f]) => matches(f, name));
    const point = hookPoints(hooks);
    const x = isRaw(images) ? tensor(images.data, [...images.shape], { device: this.device }) : images;
    const lin = (v: Tensor, name: string): Tensor => add(matmul(v, this.param(`${name}.weight`)), this.param(`${name}.bias`));
    const emb = await point('hook_embed', lin(this.patchify(x, B), 'patch_embed'), null);
    const pos = await point('hook_pos_embed', reshape(this.param('pos_embed'), [1, N, D]), null);
    let resid = add(emb, pos);
    const tf = tensor(timestepFeatures(t, c.freqDim), [B, c.freqDim], { device: this.device });
    const te = await point('hook_t_embed', lin(silu(lin(tf, 't_embed.fc1')), 't_embed.fc2'), null);
    const ye = await point('hook_y_embed', embedding(this.param('y_embed.weight'), tensor(Int32Array.from(y), [B], { device: this.device, dtype: 'int32' })), null);
    const cond = silu(add(te, ye));
    // Modulation vectors of one adaLN projection, each [B, 1, D].
    const mods = (name: string, k: number): Tensor[] => {
      const m = lin(cond, name);
      return Array.from({ length: k }, (_, i) => reshape(slice(m, [0, i * D], [B, D]), [B, 1, D]));
    };
    const modulate = (v: Tensor, shift: Tensor, scale: Tensor): Tensor => add(mul(v, add(scale, tensor(new Float32Array([1]), [1], { device: this.device }))), shift);
    for (let l = 0; l < c.nLayers; l++) {
      const b = `blocks.${l}`;
      const [sh1, sc1, g1, sh2, sc2, g2] = mods(`h.${l}.adaLN`, 6) as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
      resid = await point(`${b}.hook_resid_pre`, resid, l);
      const x1 = await point(`${b}.ln1.hook_normalized`, modulate(layerNorm(resid, undefined, undefined, c.normEps), sh1, sc1), l);
      resid = add(resid, mul(g1, await point(`${b}.hook_attn_out`, await this.attention(l, x1, B, wants, point), l)));
      resid = await point(`${b}.hook_resid_mid`, resid, l);
      const x2 = await point(`${b}.ln2.hook_normalized`, modulate(layerNorm(resid, undefined, undefined, c.normEps), sh2, sc2), l);
      const pre = await point(`${b}.mlp.hook_pre`, lin(x2, `h.${l}.mlp.c_fc`), l);
      const post = await point(`${b}.mlp.hook_post`, silu(pre), l);
      resid = add(resid, mul(g2, await point(`${b}.hook_mlp_out`, lin(post, `h.${l}.mlp.c_proj`), l)));
      resid = await point(`${b}.hook_resid_post`, resid, l);
    }
    const [shf, scf] = mods('final.adaLN', 2) as [Tensor, Tensor];
    const xf = await point('ln_final.hook_normalized', modulate(layerNorm(resid, undefined, undefined, c.normEps), shf, scf), null);
    return point('hook_out', this.unpatchify(lin(xf, 'final.linear'), B), null);
  }

  private async attention(
    l: number, x: Tensor, B: number, wants: (n: string) => boolean,
    point: (name: string, t: Tensor, layer: number | null) => Promise<Tensor>,
  ): Promise<Tensor> {
    const c = this.config;
    const H = c.nHeads;
    const Dh = c.dHead;
    const N = c.nPatches;
    const HD = H * Dh;
    const a = `blocks.${l}.attn`;
    const W = this.param(`h.${l}.attn.c_attn.weight`);
    const bias = this.param(`h.${l}.attn.c_attn.bias`);
    const [q, k, v] = await hookedQKV(x, W, bias, { B, T: N, H, Dh, dModel: c.dModel }, a, l, point);
    const perturb = patternPerturbFor(this.heads.layer(l));
    const { out } = await denseAttention(q, k, v, {
      scale: 1 / Math.sqrt(Dh), causal: false, ...(perturb ? { perturb } : {}),
      hooks: {
        ...(wants(`${a}.hook_attn_scores`) ? { scores: (s: Tensor) => point(`${a}.hook_attn_scores`, s, l) } : {}),
        ...(wants(`${a}.hook_pattern`) ? { pattern: (p: Tensor) => point(`${a}.hook_pattern`, p, l) } : {}),
      },
    });
    const z = gateAndAblate(this.heads.layer(l), out, this.device);
    const zt = await point(`${a}.hook_z`, permute(z, [0, 2, 1, 3]), l);
    return add(matmul(reshape(zt, [B, N, HD]), this.param(`h.${l}.attn.c_proj.weight`)), this.param(`h.${l}.attn.c_proj.bias`));
  }

  toString(): string {
    const c = this.config;
    return `DiT(${c.imageSize}x${c.imageSize}x${c.channels}, patch ${c.patchSize}, ${c.nLayers} layers, ${c.nHeads} heads x ${c.dHead}, d_model ${c.dModel}, ${c.nClasses} classes + null, ${c.timesteps} steps, ${this.numParams} params, on ${this.device.kind})`;
  }
}

// ---------------------------------------------------------------------------------- sampling

/** What a guidance hook sees at one sampler step; it returns the ε the step uses. */
export interface GuidanceContext {
  /** The current noisy images [n, C, S, S] (model space). */
  x: Tensor;
  /** The model timestep of this step. */
  t: number;
  /** Index of this step (0 = noisiest). */
  step: number;
  /** Class ids of the batch. */
  labels: Int32Array;
  /** ε after classifier-free guidance (the conditional ε when the guidance scale is 0). */
  eps: Tensor;
  /** Runs the model on x at this step (with whatever head controls are set when called). */
  predict: (labels?: Int32Array) => Promise<Tensor>;
}

export type GuidanceHook = (ctx: GuidanceContext) => Promise<Tensor> | Tensor;

export interface DDIMOptions {
  /** Class id per sample (nClasses = unconditional). */
  labels: ArrayLike<number>;
  /** Sampler steps (default 25, at most the schedule's), evenly spaced over the training schedule. */
  steps?: number;
  /** Seed of the initial noise (and of η noise); the same seed gives the same images. */
  seed?: number;
  /** Classifier-free guidance scale s: ε = ε_u + (1 + s)(ε_c − ε_u); 0 (default) = conditional only. */
  cfgScale?: number;
  /** DDIM η (default 0: deterministic given the seed). */
  eta?: number;
  /** Clip the predicted x₀ to [−1, 1] (default true). */
  clipX0?: boolean;
  /** Called once per step after classifier-free guidance; its result replaces ε (e.g. PAG). */
  guidance?: GuidanceHook;
  /** Initial noise [n·C·S·S] instead of the seeded one. */
  noise?: Float32Array;
}

/** DDIM sampling (Song et al.) of n = labels.length images; returns them in model space ([−1, 1]). */
export async function sampleDDIM(model: DiT, options: DDIMOptions): Promise<{ images: Float32Array; shape: [number, number, number, number] }> {
  const c = model.config;
  const n = options.labels.length;
  if (n < 1) throw new ModelError('sampleDDIM', 'labels must name at least one class');
  const steps = options.steps ?? Math.min(25, c.timesteps);
  if (!Number.isInteger(steps) || steps < 1 || steps > c.timesteps) throw new ModelError('sampleDDIM', `steps must be an integer in [1, ${c.timesteps}], got ${steps}`);
  const eta = options.eta ?? 0;
  if (!(eta >= 0)) throw new ModelError('sampleDDIM', `eta must be >= 0, got ${eta}`);
  const cfg = options.cfgScale ?? 0;
  if (!Number.isFinite(cfg)) throw new ModelError('sampleDDIM', `cfgScale must be finite, got ${cfg}`);
  const labels = Int32Array.from(options.labels);
  for (const y of labels) if (y < 0 || y > c.nClasses) throw new ModelError('sampleDDIM', `class id ${y} must be in [0, ${c.nClasses}] (${c.nClasses} = null class)`);
  const shape: [number, number, number, number] = [n, c.channels, c.imageSize, c.imageSize];
  const size = n * c.channels * c.imageSize * c.imageSize;
  const rng = new Rng(options.seed ?? 0);
  let x: Float32Array;
  if (options.noise) {
    if (options.noise.length !== size) throw new ModelError('sampleDDIM', `noise has ${options.noise.length} values, expected ${size} (${fmtShape(shape)})`);
    x = Float32Array.from(options.noise);
  } else x = Float32Array.from({ length: size }, () => rng.normal());
  const T = c.timesteps;
  const ts = Array.from({ length: steps }, (_, i) => Math.round(((T - 1) * (steps - 1 - i)) / Math.max(1, steps - 1)));
  const abar = model.alphasCumprod;
  const nullIds = new Int32Array(n).fill(c.nClasses);
  for (let i = 0; i < steps; i++) {
    const t = ts[i]!;
    const tv = new Int32Array(n).fill(t);
    const xt = tensor(x, shape, { device: model.device });
    const predict = (ids: Int32Array = labels): Promise<Tensor> => model.run(xt, tv, ids);
    let eps = await predict();
    if (cfg !== 0) {
      const u = await predict(nullIds);
      eps = noGrad(() => add(u, mul(sub(eps, u), tensor(new Float32Array([1 + cfg]), [1], { device: model.device }))));
    }
    if (options.guidance) eps = await options.guidance({ x: xt, t, step: i, labels, eps, predict });
    const e = (await eps.data()) as Float32Array;
    const a = abar[t]!;
    const aPrev = i + 1 < steps ? abar[ts[i + 1]!]! : 1;
    const sigma = eta * Math.sqrt(((1 - aPrev) / (1 - a)) * (1 - a / aPrev));
    const dir = Math.sqrt(Math.max(0, 1 - aPrev - sigma * sigma));
    const next = new Float32Array(size);
    for (let j = 0; j < size; j++) {
      let x0 = (x[j]! - Math.sqrt(1 - a) * e[j]!) / Math.sqrt(a);
      if (options.clipX0 !== false) x0 = Math.min(1, Math.max(-1, x0));
      next[j] = Math.sqrt(aPrev) * x0 + dir * e[j]! + (sigma > 0 ? sigma * rng.normal() : 0);
    }
    x = next;
  }
  return { images: x, shape };
}

// ---------------------------------------------------------------------------------- training

export interface DiTTrainOptions {
  steps: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  /** Seed of the images, timesteps and noise (each step draws a fresh batch). */
  seed?: number;
  /** Probability of replacing a label with the null class (classifier-free guidance; default 0.1). */
  classDropout?: number;
  /** Shapes data options (default noise 0: clean shapes, mapped to [−1, 1]). */
  shapes?: ShapesOptions;
  onStep?: (info: { step: number; loss: number }) => void | Promise<void>;
}

/** Shapes images in [0, 1] mapped to the model's [−1, 1]. */
export function toModelSpace(images: Float32Array): Float32Array {
  return Float32Array.from(images, (v) => 2 * v - 1);
}

/** ε-prediction MSE on x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε over fresh shapes batches, AdamW with warmup + cosine. */
export async function trainDiT(model: DiT, options: DiTTrainOptions): Promise<{ losses: number[]; wallMs: number }> {
  const { steps } = options;
  if (!Number.isInteger(steps) || steps < 1) throw new ModelError('trainDiT', `steps must be a positive integer, got ${steps}`);
  const c = model.config;
  if (c.channels !== 1) throw new ModelError('trainDiT', `the shapes data has 1 channel, the model ${c.channels}`);
  const B = options.batchSize ?? 64;
  const pDrop = options.classDropout ?? 0.1;
  if (!(pDrop >= 0 && pDrop <= 1)) throw new ModelError('trainDiT', `classDropout must be in [0, 1], got ${pDrop}`);
  const lr = options.lr ?? 1e-3;
  const params = model.parameters();
  const opt = new AdamW(params, { lr, weightDecay: options.weightDecay ?? 0 });
  const sched = warmupCosine({ lr, warmupSteps: Math.min(100, Math.floor(steps / 10)), totalSteps: steps });
  const rng = new Rng((options.seed ?? 1) * 7919 + 17);
  const abar = model.alphasCumprod;
  const S = c.imageSize;
  const px = S * S;
  const losses: number[] = [];
  const t0 = performance.now();
  for (let step = 0; step < steps; step++) {
    const batch = shapes(B, (options.seed ?? 1) * 1_000_003 + step, { size: S, noise: 0, ...options.shapes });
    const x0 = toModelSpace(batch.images);
    const ts = Int32Array.from({ length: B }, () => rng.int(c.timesteps));
    const ys = Int32Array.from(batch.labels, (l) => (rng.uniform() < pDrop ? c.nClasses : l));
    const eps = Float32Array.from({ length: B * px }, () => rng.normal());
    const xt = new Float32Array(B * px);
    for (let b = 0; b < B; b++) {
      const sa = Math.sqrt(abar[ts[b]!]!);
      const sn = Math.sqrt(1 - abar[ts[b]!]!);
      for (let j = b * px; j < (b + 1) * px; j++) xt[j] = sa * x0[j]! + sn * eps[j]!;
    }
    const loss = await scope(async () => {
      const pred = await model.run({ data: xt, shape: [B, 1, S, S] }, ts, ys, { grad: true });
      const lt = mean(square(sub(pred, tensor(eps, [B, 1, S, S], { device: model.device }))));
      lt.backward();
      clipGradNorm(params, 1);
      opt.lr = sched(step);
      opt.step();
      opt.zeroGrad();
      return lt.item();
    });
    if (!Number.isFinite(loss)) throw new ModelError('trainDiT', `loss became ${loss} at step ${step}`);
    losses.push(loss);
    await options.onStep?.({ step, loss });
  }
  return { losses, wallMs: performance.now() - t0 };
}
