import { TensorError } from '../errors.js';
import { zerosLike } from '../ops/create.js';
import { keep } from '../scope.js';
import { adamwUpdate } from './adamw-kernel.js';
import type { Tensor } from '../tensor.js';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  /** Decoupled weight decay (Loshchilov & Hutter), applied as p -= lr * wd * p. */
  weightDecay?: number;
  /** Parameters that get no weight decay (biases, norms, embeddings if you wish). */
  noDecay?: (p: Tensor) => boolean;
}

/** AdamW on any device: one fused in-place update per parameter where the parameters live. */
export class AdamW {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private stepCount = 0;
  private readonly m = new Map<Tensor, Tensor>();
  private readonly v = new Map<Tensor, Tensor>();
  private readonly noDecay: (p: Tensor) => boolean;

  constructor(readonly params: readonly Tensor[], options: AdamWOptions = {}) {
    for (const p of params) {
      if (!p.requiresGrad) throw new TensorError('AdamW', `parameter ${p.name ?? p.toString()} does not require grad`);
    }
    this.lr = options.lr ?? 1e-3;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.noDecay = options.noDecay ?? ((p) => p.rank < 2);
  }

  get steps(): number {
    return this.stepCount;
  }

  step(): void {
    this.stepCount++;
    const [beta1, beta2] = this.betas;
    const c1 = 1 - Math.pow(beta1, this.stepCount);
    const c2 = 1 - Math.pow(beta2, this.stepCount);
    for (const p of this.params) {
      const g = p.grad;
      if (!g) continue;
      let m = this.m.get(p);
      let v = this.v.get(p);
      if (!m || !v) {
        m = keep(zerosLike(p));
        v = keep(zerosLike(p));
        this.m.set(p, m);
        this.v.set(p, v);
      }
      const weightDecay = this.noDecay(p) ? 0 : this.weightDecay;
      adamwUpdate(p, g, m.storage('AdamW'), v.storage('AdamW'), { lr: this.lr, beta1, beta2, eps: this.eps, weightDecay, c1, c2 });
    }
  }

  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Free optimizer state. */
  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
