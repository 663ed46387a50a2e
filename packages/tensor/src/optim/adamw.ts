import { noGrad } from '../autograd.js';
import { TensorError } from '../errors.js';
import { add, addScalar, div, mul, mulScalar, sqrt } from '../ops/elementwise.js';
import { zerosLike } from '../ops/create.js';
import { keep, scope } from '../scope.js';
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

/** AdamW on any device: the update is made of tensor ops, so it runs where the parameters live. */
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
    const [b1, b2] = this.betas;
    const c1 = 1 - Math.pow(b1, this.stepCount);
    const c2 = 1 - Math.pow(b2, this.stepCount);
    noGrad(() => {
      for (const p of this.params) {
        const g = p.grad;
        if (!g) continue;
        scope(() => {
          const m0 = this.m.get(p) ?? keep(zerosLike(p));
          const v0 = this.v.get(p) ?? keep(zerosLike(p));
          const m1 = keep(add(mulScalar(m0, b1), mulScalar(g, 1 - b1)));
          const v1 = keep(add(mulScalar(v0, b2), mulScalar(mul(g, g), 1 - b2)));
          m0.dispose();
          v0.dispose();
          this.m.set(p, m1);
          this.v.set(p, v1);
          const update = div(mulScalar(m1, 1 / c1), addScalar(sqrt(mulScalar(v1, 1 / c2)), this.eps));
          const wd = this.noDecay(p) ? 0 : this.weightDecay;
          const decayed = wd ? mulScalar(p, 1 - this.lr * wd) : p;
          const next = add(decayed, mulScalar(update, -this.lr));
          p.assign(keep(next));
        });
      }
    });
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
