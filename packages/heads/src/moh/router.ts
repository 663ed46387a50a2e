/**
 * MoH (Mixture-of-Head attention): a router per layer picks, per token, the top-k of the H heads
 * from softmax(x W_r) and weights each head's output by its gate: O_t = Σ_h g_h(x_t) · z_{h,t} W_O^(h).
 * Gates are the kept probabilities renormalised over the k picked heads and scaled by k, so a
 * uniform router with k = H is exactly multi-head attention. The load-balance loss is Switch's
 * H · Σ_h f_h · P_h (f_h: share of the k·tokens picks that went to h, P_h: mean probability).
 */
import { keep, matmul, mul, mulScalar, div, sum, mean, softmax, tensor, reshape, Rng, type Device, type Tensor } from '@attnlab/tensor';
import type { HeadRouter, ViT } from '@attnlab/models';
import { HeadsError } from '../errors.js';

export interface MoHOptions {
  dModel: number;
  nHeads: number;
  /** Active heads per token: a count 1..H, or a fraction of H in (0, 1] (rounded, at least 1). */
  active: number;
  /** Renormalise the kept probabilities over the picked heads, times k (default true). */
  renormalize?: boolean;
  seed?: number;
  device?: Device;
  /** Std of the router weights' normal initialisation (default 0.02). */
  initStd?: number;
  /** Trained router weights [dModel, nHeads] (row-major) instead of a random initialisation. */
  weight?: Float32Array;
}

/** What the last route() call picked, on the host (for router analysis). */
export interface RouteRecord {
  B: number;
  T: number;
  H: number;
  /** [B, T, H] router probabilities. */
  probs: Float32Array;
  /** [B, T, H] 1 where the head was picked. */
  picked: Uint8Array;
}

/** Active heads for `active` (a count, or a fraction of H). */
export function activeHeads(active: number, H: number): number {
  if (!(active > 0) || !Number.isFinite(active)) throw new HeadsError('MoH', `active must be a head count 1..${H} or a fraction in (0, 1], got ${active}`);
  const k = Number.isInteger(active) ? active : active < 1 ? Math.max(1, Math.round(active * H)) : NaN;
  if (!Number.isInteger(k) || k < 1 || k > H) throw new HeadsError('MoH', `active must be a head count 1..${H} or a fraction in (0, 1], got ${active}`);
  return k;
}

export class MoHRouter implements HeadRouter {
  readonly weight: Tensor;
  readonly k: number;
  readonly nHeads: number;
  readonly renormalize: boolean;
  /** Host copy of the last route() call's probabilities and picks. */
  last: RouteRecord | null = null;
  private aux: Tensor | null = null;

  constructor(options: MoHOptions) {
    const { dModel, nHeads } = options;
    if (!Number.isInteger(dModel) || dModel < 1) throw new HeadsError('MoH', `dModel must be a positive integer, got ${dModel}`);
    if (!Number.isInteger(nHeads) || nHeads < 1) throw new HeadsError('MoH', `nHeads must be a positive integer, got ${nHeads}`);
    this.nHeads = nHeads;
    this.k = activeHeads(options.active, nHeads);
    this.renormalize = options.renormalize ?? true;
    const rng = new Rng(options.seed ?? 0);
    const std = options.initStd ?? 0.02;
    if (options.weight && options.weight.length !== dModel * nHeads) throw new HeadsError('MoH', `weight has ${options.weight.length} values, expected dModel·nHeads = ${dModel * nHeads}`);
    const w = options.weight ? Float32Array.from(options.weight) : Float32Array.from({ length: dModel * nHeads }, () => std * rng.normal());
    this.weight = keep(tensor(w, [dModel, nHeads], { ...(options.device ? { device: options.device } : {}), name: 'moh.router' }));
    this.weight.requireGrad();
  }

  parameters(): Tensor[] {
    return [this.weight];
  }

  async route(x: Tensor): Promise<Tensor> {
    const [B, T, D] = x.shape as [number, number, number];
    const H = this.nHeads;
    if (x.rank !== 3 || D !== this.weight.shape[0]) throw new HeadsError('MoH.route', `x has shape [${x.shape.join(', ')}], expected [B, T, ${this.weight.shape[0]}]`);
    if (x.device !== this.weight.device) throw new HeadsError('MoH.route', `x is on ${x.device.kind}, the router on ${this.weight.device.kind}`);
    const probs = softmax(matmul(x, this.weight), -1);
    const p = (await probs.data()) as Float32Array;
    // Top-k per token on the host (ties to the lower head index): the pick itself has no gradient.
    const picked = new Uint8Array(B * T * H);
    const order = Array.from({ length: H }, (_, h) => h);
    for (let r = 0; r < B * T; r++) {
      order.sort((a, b) => p[r * H + b]! - p[r * H + a]! || a - b);
      for (let j = 0; j < this.k; j++) picked[r * H + order[j]!] = 1;
    }
    this.last = { B, T, H, probs: Float32Array.from(p), picked };
    const mask = tensor(Float32Array.from(picked), [B, T, H], { device: x.device });
    let g = mul(probs, mask);
    if (this.renormalize) g = mulScalar(div(g, sum(g, -1, true)), this.k);
    // Load balance: f (host, constant) · P (differentiable).
    const f = new Float32Array(H);
    for (let i = 0; i < picked.length; i++) f[i % H]! += picked[i]!;
    for (let h = 0; h < H; h++) f[h] = f[h]! / (B * T * this.k);
    const P = mean(reshape(probs, [B * T, H]), 0);
    this.aux = mulScalar(sum(mul(P, tensor(f, [H], { device: x.device }))), H);
    return g;
  }

  /** H · Σ_h f_h P_h of the last route() (1 when perfectly balanced). */
  auxLoss(): Tensor | null {
    return this.aux;
  }
}

/** Give each layer of `model` (all, or `layers`) its own MoH router; returns them by layer. */
export function attachMoH(model: ViT, options: Omit<MoHOptions, 'dModel' | 'nHeads' | 'device'> & { layers?: readonly number[] }): MoHRouter[] {
  const c = model.config;
  const layers = options.layers ?? Array.from({ length: c.nLayers }, (_, l) => l);
  const { layers: _l, ...rest } = options;
  void _l;
  return layers.map((l) => {
    const r = new MoHRouter({ ...rest, dModel: c.dModel, nHeads: c.nHeads, device: model.device, seed: (options.seed ?? 0) * 101 + l });
    model.setRouter(l, r);
    return r;
  });
}
