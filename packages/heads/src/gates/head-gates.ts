/**
 * Learnable per-head gates: one float32 [layers, heads] leaf tensor kept inside [min, max] by a
 * projection after every optimiser step (projected gradient descent, what DuoAttention's clamp
 * does), with an AdamW over just the gates and an L1 term. Methods build on it by reading
 * `gates.layer(l)` inside a hook, so the model's own parameters are never touched.
 */
import { abs, AdamW, clamp, keep, reshape, slice, sum, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { HeadsError } from '../errors.js';

export interface HeadGatesOptions {
  layers: number;
  heads: number;
  /** Initial value: one number for all gates or a [layers * heads] array (default 1). */
  init?: number | ArrayLike<number>;
  /** The constraint set [min, max] (default [0, 1]). */
  min?: number;
  max?: number;
  device: Device;
}

export class HeadGates {
  readonly layers: number;
  readonly heads: number;
  readonly min: number;
  readonly max: number;
  /** [layers, heads], requires grad. */
  readonly param: Tensor;

  constructor(o: HeadGatesOptions) {
    const { layers: L, heads: H } = o;
    for (const [n, x] of [['layers', L], ['heads', H]] as const) {
      if (!Number.isInteger(x) || x < 1) throw new HeadsError('HeadGates', `${n} must be a positive integer, got ${String(x)}`);
    }
    const min = o.min ?? 0;
    const max = o.max ?? 1;
    if (!(Number.isFinite(min) && Number.isFinite(max) && min <= max)) throw new HeadsError('HeadGates', `needs finite min <= max, got [${min}, ${max}]`);
    const init = o.init ?? 1;
    const a = new Float32Array(L * H);
    if (typeof init === 'number') a.fill(init);
    else {
      if (init.length !== L * H) throw new HeadsError('HeadGates', `init has ${init.length} values for ${L} x ${H} gates`);
      a.set(Array.from(init));
    }
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i]!)) throw new HeadsError('HeadGates', `init[${i}] is ${a[i]}`);
      a[i] = Math.min(max, Math.max(min, a[i]!));
    }
    this.layers = L;
    this.heads = H;
    this.min = min;
    this.max = max;
    this.param = keep(tensor(a, [L, H], { device: o.device, name: 'head_gates' })).requireGrad();
  }

  /** Layer l's gates as a [heads] tensor (a view in the autograd graph: gradients reach `param`). */
  layer(l: number): Tensor {
    if (!Number.isInteger(l) || l < 0 || l >= this.layers) throw new HeadsError('HeadGates.layer', `layer ${l} is out of range (${this.layers} layers)`);
    return reshape(slice(this.param, [l, 0], [1, this.heads]), [this.heads]);
  }

  /** Σ|gate| (the L1 push towards min when min = 0). */
  l1(): Tensor {
    return sum(abs(this.param));
  }

  /** Project onto [min, max] (call after each optimiser step). */
  project(): void {
    this.param.assign(keep(clamp(this.param, this.min, this.max)));
  }

  /** An AdamW over the gates alone, with no weight decay (the L1 term is the only push). */
  optimizer(lr: number): AdamW {
    return new AdamW([this.param], { lr, weightDecay: 0 });
  }

  async values(): Promise<Float32Array> {
    return Float32Array.from(await this.param.data());
  }

  /** Set the gates from host values (clamped into [min, max]). */
  set(values: ArrayLike<number>): void {
    if (values.length !== this.layers * this.heads) throw new HeadsError('HeadGates.set', `got ${values.length} values for ${this.layers} x ${this.heads} gates`);
    const a = Float32Array.from(values, (v) => Math.min(this.max, Math.max(this.min, v)));
    this.param.assign(keep(tensor(a, [this.layers, this.heads], { device: this.param.device })));
  }

  dispose(): void {
    this.param.dispose();
  }
}
