import { TensorError } from '../errors.js';
import { tensor, zerosLike } from '../ops/create.js';
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

/** What `AdamW.state()` returns and `loadState()` takes. */
export interface AdamWState {
  steps: number;
  lr: number;
  moments: ({ m: Float32Array; v: Float32Array } | null)[];
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

  /**
   * The optimizer's state for a checkpoint: the step count and, per parameter (in `params`
   * order), its first and second moments (null before its first update). Host copies.
   */
  async state(): Promise<AdamWState> {
    const moments: ({ m: Float32Array; v: Float32Array } | null)[] = [];
    for (const p of this.params) {
      const m = this.m.get(p);
      const v = this.v.get(p);
      moments.push(m && v ? { m: (await m.data()) as Float32Array, v: (await v.data()) as Float32Array } : null);
    }
    return { steps: this.stepCount, lr: this.lr, moments };
  }

  /** Restore a state saved by `state()` for the same parameter list (resumes bit-identically). */
  loadState(state: AdamWState): void {
    const op = 'AdamW.loadState';
    if (!Number.isInteger(state?.steps) || state.steps < 0) throw new TensorError(op, `steps must be a non-negative integer, got ${state?.steps}`);
    if (!Array.isArray(state.moments) || state.moments.length !== this.params.length) {
      throw new TensorError(op, `state has ${state.moments?.length} parameter moments, the optimizer ${this.params.length} parameters`);
    }
    state.moments.forEach((mv, i) => {
      const p = this.params[i]!;
      if (mv && (mv.m.length !== p.size || mv.v.length !== p.size)) {
        throw new TensorError(op, `moments of parameter ${i}${p.name ? ` '${p.name}'` : ''} have ${mv.m.length}/${mv.v.length} values, the parameter ${p.size}`);
      }
    });
    this.dispose();
    state.moments.forEach((mv, i) => {
      if (!mv) return;
      const p = this.params[i]!;
      this.m.set(p, keep(tensor(mv.m, p.shape, { device: p.device })));
      this.v.set(p, keep(tensor(mv.v, p.shape, { device: p.device })));
    });
    this.stepCount = state.steps;
    if (typeof state.lr === 'number') this.lr = state.lr;
  }

  /** Free optimizer state. */
  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
