/**
 * A tiny Vision Transformer (patch embedding, class token, learned positions, bidirectional
 * attention, classification head) with the language model's hook names, per-head variants
 * (@attnlab/attention's registry, causal = false) and HeadControls; plus a seeded synthetic
 * shapes dataset and a small AdamW training loop. A per-layer `HeadRouter` (e.g. @attnlab/heads'
 * MoH) weights each head's output per token.
 */
import {
  AdamW, Rng, add, argmax, broadcastTo, clipGradNorm, concat, cpuDevice, crossEntropy, gelu, keep, layerNorm, matmul, mul,
  mulScalar, noGrad, permute, reshape, scope, slice, tensor, warmupCosine, type Device, type Tensor,
} from '@attnlab/tensor';
import { attentionContext, getAttention, hasAttention, listAttention, toMaskMod, toScoreMod, type MaskLike } from '@attnlab/attention';
import { ModelError, fmtShape } from './errors.js';
import { HeadControls, gateAndAblate } from './heads.js';
import { ParamStore, hookPoints, hookedQKV } from './param-store.js';
import { matches, type Hook, type HookContext } from './hooks.js';

export interface ViTConfigInput {
  imageSize: number;
  patchSize: number;
  nClasses: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Default 1. */
  channels?: number;
  /** Default dModel / nHeads (set it to keep the head size when changing nHeads, e.g. SQA). */
  dHead?: number;
  /** Default 4·dModel. */
  dMlp?: number;
  normEps?: number;
  initStd?: number;
}

export type ViTConfig = Required<ViTConfigInput> & { nPatches: number; nTokens: number };

function resolveViTConfig(c: ViTConfigInput): ViTConfig {
  const ints = ['imageSize', 'patchSize', 'nClasses', 'dModel', 'nLayers', 'nHeads'] as const;
  for (const k of ints) if (!Number.isInteger(c[k]) || c[k] < 1) throw new ModelError('ViT', `config.${k} must be a positive integer, got ${String(c[k])}`);
  for (const k of ['channels', 'dHead', 'dMlp'] as const) {
    const v = c[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new ModelError('ViT', `config.${k} must be a positive integer, got ${String(v)}`);
  }
  if (c.imageSize % c.patchSize !== 0) throw new ModelError('ViT', `config.imageSize ${c.imageSize} is not a multiple of patchSize ${c.patchSize}`);
  if (c.dHead === undefined && c.dModel % c.nHeads !== 0) throw new ModelError('ViT', `config.dModel ${c.dModel} is not divisible by nHeads ${c.nHeads}; give dHead`);
  const side = c.imageSize / c.patchSize;
  return {
    imageSize: c.imageSize, patchSize: c.patchSize, nClasses: c.nClasses, dModel: c.dModel, nLayers: c.nLayers, nHeads: c.nHeads,
    channels: c.channels ?? 1, dHead: c.dHead ?? c.dModel / c.nHeads, dMlp: c.dMlp ?? 4 * c.dModel,
    normEps: c.normEps ?? 1e-5, initStd: c.initStd ?? 0.02, nPatches: side * side, nTokens: side * side + 1,
  };
}

/** Per-token head weights for one layer: route(x [B, N, D]) -> gates [B, N, H] that multiply each head's output. */
export interface HeadRouter {
  route(x: Tensor, layer: number): Tensor | Promise<Tensor>;
  /** Trainable parameters (trained with the model by trainViT). */
  parameters(): Tensor[];
  /** An auxiliary loss of the last route() call (e.g. load balance), added by trainViT with its weight. */
  auxLoss?(): Tensor | null;
}

export interface ViTRunOptions {
  hooks?: readonly Hook[];
  /** Record autograd (training). Default false: noGrad, intermediates freed. */
  grad?: boolean;
}

/** Images: a Tensor [B, C, S, S] ([B, S, S] when C = 1) or raw data with its shape. */
export type ImageInput = Tensor | { data: Float32Array; shape: readonly number[] };

interface Choice {
  name: string;
  options: Record<string, unknown>;
}

/**
 * Parameters: `patch_embed.weight` [C·P·P, D] (x @ W), `patch_embed.bias`, `cls_token` [D],
 * `pos_embed` [1 + patches, D], the LM's block names `h.{l}.ln_1`, `h.{l}.attn.c_attn`,
 * `h.{l}.attn.c_proj`, `h.{l}.ln_2`, `h.{l}.mlp.c_fc`, `h.{l}.mlp.c_proj`, then `ln_f`, `head.weight`
 * [D, classes], `head.bias`. Token 0 is the class token; patches follow in row-major order.
 */
export class ViT {
  readonly config: ViTConfig;
  readonly heads: HeadControls;
  device: Device;
  private readonly params = new ParamStore('ViT');
  private readonly variants: Choice[][];
  private readonly routers: (HeadRouter | null)[];

  constructor(config: ViTConfigInput, options: { device?: Device; seed?: number } = {}) {
    this.config = resolveViTConfig(config);
    this.device = options.device ?? cpuDevice();
    this.heads = new HeadControls(this.config.nLayers, this.config.nHeads);
    const softmax: Choice = { name: 'softmax', options: {} };
    this.variants = Array.from({ length: this.config.nLayers }, () => Array.from({ length: this.config.nHeads }, () => softmax));
    this.routers = Array.from({ length: this.config.nLayers }, () => null);
    this.initParams(options.seed ?? 0);
  }

  paramShapes(): Map<string, number[]> {
    const c = this.config;
    const hd = c.nHeads * c.dHead;
    const s = new Map<string, number[]>();
    s.set('patch_embed.weight', [c.channels * c.patchSize * c.patchSize, c.dModel]);
    s.set('patch_embed.bias', [c.dModel]);
    s.set('cls_token', [c.dModel]);
    s.set('pos_embed', [c.nTokens, c.dModel]);
    for (let l = 0; l < c.nLayers; l++) {
      s.set(`h.${l}.ln_1.weight`, [c.dModel]);
      s.set(`h.${l}.ln_1.bias`, [c.dModel]);
      s.set(`h.${l}.attn.c_attn.weight`, [c.dModel, 3 * hd]);
      s.set(`h.${l}.attn.c_attn.bias`, [3 * hd]);
      s.set(`h.${l}.attn.c_proj.weight`, [hd, c.dModel]);
      s.set(`h.${l}.attn.c_proj.bias`, [c.dModel]);
      s.set(`h.${l}.ln_2.weight`, [c.dModel]);
      s.set(`h.${l}.ln_2.bias`, [c.dModel]);
      s.set(`h.${l}.mlp.c_fc.weight`, [c.dModel, c.dMlp]);
      s.set(`h.${l}.mlp.c_fc.bias`, [c.dMlp]);
      s.set(`h.${l}.mlp.c_proj.weight`, [c.dMlp, c.dModel]);
      s.set(`h.${l}.mlp.c_proj.bias`, [c.dModel]);
    }
    s.set('ln_f.weight', [c.dModel]);
    s.set('ln_f.bias', [c.dModel]);
    s.set('head.weight', [c.dModel, c.nClasses]);
    s.set('head.bias', [c.nClasses]);
    return s;
  }

  /** N(0, initStd) weights (residual projections / sqrt(2·layers)), unit norms, zero biases. */
  initParams(seed: number): void {
    const rng = new Rng(seed);
    const std = this.config.initStd;
    for (const [name, shape] of this.paramShapes()) {
      const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
      if (/ln_\d\.weight|ln_f\.weight/.test(name)) a.fill(1);
      else if (!name.endsWith('.bias')) {
        const sd = name.endsWith('c_proj.weight') ? std / Math.sqrt(2 * this.config.nLayers) : std;
        for (let i = 0; i < a.length; i++) a[i] = sd * rng.normal();
      }
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

  /** The model's parameters and those of its routers. */
  parameters(): Tensor[] {
    return [...this.params.values(), ...this.routers.flatMap((r) => r?.parameters() ?? [])];
  }

  /** Parameters of the model alone (routers excluded). */
  get numParams(): number {
    return this.params.numel;
  }


  loadStateDict(state: Map<string, { data: Float32Array; shape: readonly number[] }>): void {
    this.params.load(this.paramShapes(), state, this.device);
  }


  stateDict(): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
    return this.params.snapshot();
  }


  /** Variant `name` for the selected heads of a layer (all layers when layer is 'all'); bidirectional. */
  setAttention(layer: number | 'all', name: string, options: Record<string, unknown> = {}, heads?: readonly number[]): void {
    if (!hasAttention(name)) throw new ModelError('setAttention', `no attention variant '${name}' is registered (have: ${listAttention().join(', ')})`);
    const { mask, scoreMod } = options;
    const stored: Record<string, unknown> = { ...options };
    if (mask !== undefined && mask !== null) stored['mask'] = toMaskMod(mask as MaskLike);
    if (scoreMod !== undefined && scoreMod !== null) stored['scoreMod'] = toScoreMod(scoreMod as Parameters<typeof toScoreMod>[0]);
    const choice: Choice = { name, options: stored };
    const layers = layer === 'all' ? [...this.variants.keys()] : [this.checkLayer('setAttention', layer)];
    for (const h of heads ?? []) if (!Number.isInteger(h) || h < 0 || h >= this.config.nHeads) throw new ModelError('setAttention', `head ${h} out of range [0, ${this.config.nHeads})`);
    for (const l of layers) for (let h = 0; h < this.config.nHeads; h++) if (!heads || heads.includes(h)) this.variants[l]![h] = choice;
  }

  /** Route layer `layer`'s heads through `router` (null removes it). */
  setRouter(layer: number | 'all', router: HeadRouter | null): void {
    const layers = layer === 'all' ? [...this.routers.keys()] : [this.checkLayer('setRouter', layer)];
    for (const l of layers) this.routers[l] = router;
  }

  getRouter(layer: number): HeadRouter | null {
    return this.routers[this.checkLayer('getRouter', layer)]!;
  }

  /** Auxiliary losses of the routers' last calls (one per routed layer). */
  routerAuxLosses(): Tensor[] {
    return [...new Set(this.routers)].flatMap((r) => {
      const a = r?.auxLoss?.();
      return a ? [a] : [];
    });
  }

  private checkLayer(op: string, l: number): number {
    if (!Number.isInteger(l) || l < 0 || l >= this.config.nLayers) throw new ModelError(op, `layer ${l} out of range [0, ${this.config.nLayers})`);
    return l;
  }

  hookNames(): string[] {
    const n = ['hook_embed', 'hook_pos_embed'];
    for (let l = 0; l < this.config.nLayers; l++) {
      const b = `blocks.${l}`;
      n.push(`${b}.hook_resid_pre`, `${b}.ln1.hook_normalized`, `${b}.attn.hook_q`, `${b}.attn.hook_k`, `${b}.attn.hook_v`, `${b}.attn.hook_attn_scores`,
        `${b}.attn.hook_pattern`, `${b}.attn.hook_router`, `${b}.attn.hook_z`, `${b}.hook_attn_out`, `${b}.hook_resid_mid`, `${b}.ln2.hook_normalized`,
        `${b}.mlp.hook_pre`, `${b}.mlp.hook_post`, `${b}.hook_mlp_out`, `${b}.hook_resid_post`);
    }
    n.push('ln_final.hook_normalized', 'hook_cls');
    return n;
  }

  /** Patches [B, patches, C·P·P] on the model's device, row-major over the patch grid. */
  async patchify(images: ImageInput): Promise<Tensor> {
    const c = this.config;
    const shape = images.shape;
    const S = c.imageSize;
    const ok = (shape.length === 4 && shape[1] === c.channels && shape[2] === S && shape[3] === S) || (c.channels === 1 && shape.length === 3 && shape[1] === S && shape[2] === S);
    if (!ok) throw new ModelError('ViT', `images have shape ${fmtShape(shape)}, expected [B, ${c.channels}, ${S}, ${S}]${c.channels === 1 ? ` or [B, ${S}, ${S}]` : ''}`);
    const data = 'data' in images && images.data instanceof Float32Array ? images.data : ((await (images as Tensor).data()) as Float32Array);
    const B = shape[0]!;
    const P = c.patchSize;
    const side = S / P;
    const F = c.channels * P * P;
    const out = new Float32Array(B * c.nPatches * F);
    for (let b = 0; b < B; b++) {
      for (let py = 0; py < side; py++) {
        for (let px = 0; px < side; px++) {
          const o = (b * c.nPatches + py * side + px) * F;
          let f = 0;
          for (let ch = 0; ch < c.channels; ch++) {
            for (let y = 0; y < P; y++) for (let x = 0; x < P; x++) out[o + f++] = data[((b * c.channels + ch) * S + py * P + y) * S + px * P + x]!;
          }
        }
      }
    }
    return tensor(out, [B, c.nPatches, F], { device: this.device });
  }

  /** Class logits [B, classes]. */
  async run(images: ImageInput, options: ViTRunOptions = {}): Promise<Tensor> {
    const bad = Object.keys(options).filter((k) => k !== 'hooks' && k !== 'grad');
    if (bad.length) throw new ModelError('run', `unknown option ${bad.map((b) => `'${b}'`).join(', ')} (known: hooks, grad)`);
    if (options.grad) return this.runInner(images, options.hooks ?? []);
    return noGrad(() => scope(() => this.runInner(images, options.hooks ?? [])));
  }

  /** Logits and the activations at every hook point that fires (or those `names` selects). */
  async runWithCache(images: ImageInput, names: (n: string) => boolean = () => true): Promise<{ logits: Tensor; cache: Record<string, Tensor> }> {
    const cache: Record<string, Tensor> = {};
    const store: Hook = [names, (t: Tensor, ctx: HookContext) => {
      cache[ctx.name] = keep(t);
    }];
    const logits = await this.run(images, { hooks: [store] });
    return { logits, cache };
  }

  private async runInner(images: ImageInput, hooks: readonly Hook[]): Promise<Tensor> {
    const c = this.config;
    const patches = await this.patchify(images);
    const B = patches.shape[0]!;
    const T = c.nTokens;
    const D = c.dModel;
    const wants = (name: string): boolean => hooks.some(([f]) => matches(f, name));
    const point = hookPoints(hooks);
    const emb = await point('hook_embed', add(matmul(patches, this.param('patch_embed.weight')), this.param('patch_embed.bias')), null);
    const cls = broadcastTo(reshape(this.param('cls_token'), [1, 1, D]), [B, 1, D]);
    const pos = await point('hook_pos_embed', reshape(this.param('pos_embed'), [1, T, D]), null);
    let resid = add(concat([cls, emb], 1), pos);
    for (let l = 0; l < c.nLayers; l++) {
      const b = `blocks.${l}`;
      resid = await point(`${b}.hook_resid_pre`, resid, l);
      const x1 = await point(`${b}.ln1.hook_normalized`, layerNorm(resid, this.param(`h.${l}.ln_1.weight`), this.param(`h.${l}.ln_1.bias`), c.normEps), l);
      resid = add(resid, await point(`${b}.hook_attn_out`, await this.attention(l, x1, B, wants, point), l));
      resid = await point(`${b}.hook_resid_mid`, resid, l);
      const x2 = await point(`${b}.ln2.hook_normalized`, layerNorm(resid, this.param(`h.${l}.ln_2.weight`), this.param(`h.${l}.ln_2.bias`), c.normEps), l);
      const pre = await point(`${b}.mlp.hook_pre`, add(matmul(x2, this.param(`h.${l}.mlp.c_fc.weight`)), this.param(`h.${l}.mlp.c_fc.bias`)), l);
      const post = await point(`${b}.mlp.hook_post`, gelu(pre), l);
      resid = add(resid, await point(`${b}.hook_mlp_out`, add(matmul(post, this.param(`h.${l}.mlp.c_proj.weight`)), this.param(`h.${l}.mlp.c_proj.bias`)), l));
      resid = await point(`${b}.hook_resid_post`, resid, l);
    }
    const xf = await point('ln_final.hook_normalized', layerNorm(resid, this.param('ln_f.weight'), this.param('ln_f.bias'), c.normEps), null);
    const clsOut = await point('hook_cls', reshape(slice(xf, [0, 0, 0], [B, 1, D]), [B, D]), null);
    return add(matmul(clsOut, this.param('head.weight')), this.param('head.bias'));
  }

  private async attention(
    l: number, x: Tensor, B: number, wants: (n: string) => boolean,
    point: (name: string, t: Tensor, layer: number | null) => Promise<Tensor>,
  ): Promise<Tensor> {
    const c = this.config;
    const H = c.nHeads;
    const Dh = c.dHead;
    const T = c.nTokens;
    const HD = H * Dh;
    const a = `blocks.${l}.attn`;
    const W = this.param(`h.${l}.attn.c_attn.weight`);
    const bias = this.param(`h.${l}.attn.c_attn.bias`);
    const [q, k, v] = await hookedQKV(x, W, bias, { B, T, H, Dh, dModel: c.dModel }, a, l, point);
    const wantPattern = wants(`${a}.hook_pattern`);
    const wantScores = wants(`${a}.hook_attn_scores`);
    const groups: { choice: Choice; heads: number[] }[] = [];
    this.variants[l]!.forEach((choice, h) => {
      const g = groups.find((x) => x.choice === choice);
      if (g) g.heads.push(h);
      else groups.push({ choice, heads: [h] });
    });
    const outs: Tensor[] = new Array<Tensor>(H);
    const probs: Tensor[] = new Array<Tensor>(H);
    const scores: Tensor[] = new Array<Tensor>(H);
    for (const { choice, heads } of groups) {
      if (!hasAttention(choice.name)) throw new ModelError('attention', `variant '${choice.name}' (layer ${l}) is no longer registered (have: ${listAttention().join(', ')})`);
      const { mask, scoreMod, scale, ...rest } = choice.options;
      const pick = (t: Tensor): Tensor => (heads.length === H ? t : concat(heads.map((h) => slice(t, [0, h, 0, 0], [B, 1, T, Dh])), 1));
      const qg = pick(q);
      const ctx = attentionContext(qg, {
        scale: (scale as number | undefined) ?? 1 / Math.sqrt(Dh), mask: (mask as MaskLike | undefined) ?? null, causal: false,
        scoreMod: (scoreMod as never) ?? null, layer: l, heads, returnProbs: wantPattern, returnScores: wantScores, options: rest,
      });
      const res = await getAttention(choice.name).forward(qg, pick(k), pick(v), ctx);
      if (res.out.rank !== 4 || res.out.shape[1] !== heads.length || res.out.shape[2] !== T) throw new ModelError('attention', `variant '${choice.name}' (layer ${l}) returned out ${fmtShape(res.out.shape)}, expected [${B}, ${heads.length}, ${T}, ${Dh}]`);
      const split = (t: Tensor | undefined, into: Tensor[], what: string): void => {
        if (!t) throw new ModelError('attention', `${a}.hook_${what}: variant '${choice.name}' (heads ${heads.join(', ')}) gives no ${what}`);
        heads.forEach((h, i) => (into[h] = heads.length === 1 ? t : slice(t, [0, i, 0, 0], [B, 1, T, t.shape[3]!])));
      };
      split(res.out, outs, 'out');
      if (wantPattern) split(res.probs, probs, 'pattern');
      if (wantScores) split(res.scores, scores, 'attn_scores');
    }
    let z = H === 1 ? outs[0]! : concat(outs, 1);
    if (wantScores) await point(`${a}.hook_attn_scores`, H === 1 ? scores[0]! : concat(scores, 1), l);
    if (wantPattern) {
      const p = H === 1 ? probs[0]! : concat(probs, 1);
      const seen = await point(`${a}.hook_pattern`, p, l);
      if (seen !== p) z = matmul(seen, v); // a replaced pattern drives z (out = pattern @ v)
    }
    z = this.applyHeadControls(l, z);
    const router = this.routers[l];
    if (router) {
      const g = await point(`${a}.hook_router`, await router.route(x, l), l);
      if (g.rank !== 3 || g.shape[0] !== B || g.shape[1] !== T || g.shape[2] !== H) throw new ModelError('router', `layer ${l}: route() returned ${fmtShape(g.shape)}, expected [${B}, ${T}, ${H}]`);
      z = mul(z, permute(reshape(g, [B, T, H, 1]), [0, 2, 1, 3]));
    }
    const zt = await point(`${a}.hook_z`, permute(z, [0, 2, 1, 3]), l);
    return add(matmul(reshape(zt, [B, T, HD]), this.param(`h.${l}.attn.c_proj.weight`)), this.param(`h.${l}.attn.c_proj.bias`));
  }

  /** Gate and zero/mean ablation on z [B, H, T, Dh] (HeadControls; pattern perturbations are not supported on the ViT). */
  private applyHeadControls(l: number, z: Tensor): Tensor {
    const controls = this.heads.layer(l);
    controls.forEach((ctl, h) => {
      if (ctl?.perturb) throw new ModelError('heads', `layer ${l} head ${h}: pattern perturbations are not supported on the ViT (use gate or ablate)`);
    });
    return gateAndAblate(controls, z, this.device);
  }

}

// ---------------------------------------------------------------------------------- shapes data

export const SHAPE_CLASSES = ['square', 'circle', 'cross', 'line'] as const;

export interface ShapesOptions {
  /** Image side (default 16). */
  size?: number;
  /** Gaussian pixel noise standard deviation (default 0.15). */
  noise?: number;
}

export interface ShapesBatch {
  /** [n, 1, size, size] */
  images: Float32Array;
  labels: Int32Array;
  shape: [number, number, number, number];
  /** [n, size, size]: 1 where the noiseless shape is drawn (token types for router maps). */
  ink: Uint8Array;
}

/**
 * n images of an outlined square, a ring, a cross or a single bar (label = index in SHAPE_CLASSES)
 * at a random position and size, plus pixel noise; the same seed gives the same images.
 */
export function shapes(n: number, seed: number, options: ShapesOptions = {}): ShapesBatch {
  const S = options.size ?? 16;
  const noise = options.noise ?? 0.15;
  if (!Number.isInteger(n) || n < 1) throw new ModelError('shapes', `n must be a positive integer, got ${n}`);
  if (!Number.isInteger(S) || S < 8) throw new ModelError('shapes', `size must be an integer >= 8, got ${S}`);
  const rng = new Rng(seed);
  const images = new Float32Array(n * S * S);
  const labels = new Int32Array(n);
  const ink = new Uint8Array(n * S * S);
  for (let i = 0; i < n; i++) {
    const label = rng.int(4);
    labels[i] = label;
    const r = 2 + rng.int(Math.max(1, Math.floor(S / 4) - 1)); // half-size
    const cy = r + rng.int(S - 2 * r);
    const cx = r + rng.int(S - 2 * r);
    const vertical = rng.uniform() < 0.5;
    const img = images.subarray(i * S * S, (i + 1) * S * S);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const dy = y - cy;
        const dx = x - cx;
        let on = false;
        if (label === 0) on = Math.max(Math.abs(dy), Math.abs(dx)) === r;
        else if (label === 1) on = Math.abs(Math.hypot(dy, dx) - r) < 0.6;
        else if (label === 2) on = (dy === 0 && Math.abs(dx) <= r) || (dx === 0 && Math.abs(dy) <= r);
        else on = vertical ? dx === 0 && Math.abs(dy) <= r : dy === 0 && Math.abs(dx) <= r;
        img[y * S + x] = (on ? 1 : 0) + noise * rng.normal();
        ink[i * S * S + y * S + x] = on ? 1 : 0;
      }
    }
  }
  return { images, labels, shape: [n, 1, S, S], ink };
}

// ---------------------------------------------------------------------------------- training

export interface ViTTrainOptions {
  steps: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  /** Seed of the training images (each step draws a fresh batch). */
  seed?: number;
  /** Weight of the routers' auxiliary (load-balance) losses (default 0.01). */
  auxWeight?: number;
  shapes?: ShapesOptions;
  onStep?: (info: { step: number; loss: number }) => void | Promise<void>;
}

/** AdamW with warmup + cosine on fresh shapes batches; returns the per-step losses and wall time. */
export async function trainViT(model: ViT, options: ViTTrainOptions): Promise<{ losses: number[]; wallMs: number }> {
  const { steps } = options;
  if (!Number.isInteger(steps) || steps < 1) throw new ModelError('trainViT', `steps must be a positive integer, got ${steps}`);
  const B = options.batchSize ?? 32;
  const params = model.parameters();
  const opt = new AdamW(params, { lr: options.lr ?? 3e-3, weightDecay: options.weightDecay ?? 0.01 });
  const sched = warmupCosine({ lr: options.lr ?? 3e-3, warmupSteps: Math.min(20, Math.floor(steps / 10)), totalSteps: steps });
  const aux = options.auxWeight ?? 0.01;
  const losses: number[] = [];
  const t0 = performance.now();
  for (let step = 0; step < steps; step++) {
    const batch = shapes(B, (options.seed ?? 1) * 1_000_003 + step, { size: model.config.imageSize, ...options.shapes });
    const loss = await scope(async () => {
      const logits = await model.run({ data: batch.images, shape: batch.shape }, { grad: true });
      let lt = crossEntropy(logits, tensor(batch.labels, [B], { device: model.device, dtype: 'int32' }));
      const ce = lt;
      for (const a of model.routerAuxLosses()) lt = add(lt, mulScalar(a, aux));
      lt.backward();
      clipGradNorm(params, 1);
      opt.lr = sched(step);
      opt.step();
      opt.zeroGrad();
      return ce.item();
    });
    if (!Number.isFinite(loss)) throw new ModelError('trainViT', `loss became ${loss} at step ${step}`);
    losses.push(loss);
    await options.onStep?.({ step, loss });
  }
  return { losses, wallMs: performance.now() - t0 };
}

/** Accuracy of the model on a shapes batch (evaluated in chunks of `batch`). */
export async function evaluateViT(model: ViT, data: ShapesBatch, batch = 128): Promise<number> {
  const [n, C, S] = data.shape;
  let correct = 0;
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const logits = await model.run({ data: data.images.subarray(s * C * S * S, (s + m) * C * S * S), shape: [m, C, S, S] });
    const pred = (await noGrad(() => argmax(logits, -1)).data()) as Int32Array;
    logits.dispose();
    for (let i = 0; i < m; i++) if (pred[i] === data.labels[s + i]) correct++;
  }
  return correct / n;
}
