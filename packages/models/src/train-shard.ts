/**
 * The part of a data-parallel step that follows backward, split across threads by parameter:
 * each thread (the main one included) owns a contiguous run of parameters and, for those alone,
 * sums every thread's gradient, adds its squares to the global norm, clips and runs AdamW. All of
 * it is in SharedArrayBuffers (gradients, weights, per-parameter squares), with Atomics barriers
 * between the phases, so no thread does per-parameter work for the whole model.
 *
 * Numerics: gradients are summed in thread order (main first) in float32, as a serial
 * accumulation would; squares are summed per parameter in float64 and the norm over parameters
 * in their order, so every thread computes the same clip factor. That factor can differ from
 * `clipGradNorm`'s float32 rounding in its last bits: results match a one-thread run to the
 * tolerance the tests state (summation order), and are bit-identical run to run for a thread count.
 */
import { AdamW, keep, tensor, useCpuMemory, type AdamWState, type Tensor } from '@attnlab/tensor';
import { ModelError } from './errors.js';

/** Control words in the shared Int32Array. */
const GRADS_READY = 0;
const SQUARES_READY = 1;
const ABORT = 2;
export const CONTROL_WORDS = 3;

/** What every thread needs to build its shard (all buffers shared). */
export interface ShardInit {
  /** Number of threads taking part (main included). */
  threads: number;
  /** Elements per parameter, in the model's parameter order. */
  sizes: number[];
  /** Owning thread of each parameter. */
  owner: number[];
  /** One full-model gradient buffer per thread (thread 0 = main); owners reduce into buffer 0. */
  gradBuffers: SharedArrayBuffer[];
  /** Float64 per parameter: the sum of squares of its reduced gradient. */
  squares: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** Hyper-parameters a train() call gives every thread's optimizer. */
export interface ShardOptimizer {
  weightDecay: number;
  lr: number;
  /** The owned parameters' share of a saved AdamW state (resume). */
  resume?: AdamWState;
}

/**
 * Contiguous runs of parameters per thread with element counts as even as possible (a run ends
 * once it reaches its share of what is left), so each thread's reduce/update costs about the same.
 */
export function assignOwners(sizes: readonly number[], threads: number): number[] {
  const owner: number[] = [];
  let left = sizes.reduce((s, n) => s + n, 0);
  let t = 0;
  let acc = 0;
  for (let i = 0; i < sizes.length; i++) {
    const share = left / (threads - t);
    owner.push(t);
    acc += sizes[i]!;
    // Move on once this thread holds its share, keeping a parameter for each remaining thread when possible.
    if (t < threads - 1 && (acc >= share || sizes.length - i - 1 <= threads - 1 - t)) {
      left -= acc;
      acc = 0;
      t++;
    }
  }
  return owner;
}

export function newShardInit(sizes: readonly number[], threads: number): ShardInit {
  const total = sizes.reduce((s, n) => s + n, 0);
  return {
    threads, sizes: [...sizes], owner: assignOwners(sizes, threads),
    gradBuffers: Array.from({ length: threads }, () => new SharedArrayBuffer(total * 4)),
    squares: new SharedArrayBuffer(sizes.length * 8),
    control: new SharedArrayBuffer(CONTROL_WORDS * 4),
  };
}

/** `Atomics.waitAsync` (ES2024; Node 16+), typed here because the project's lib is ES2023. */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

/** Wait slices while blocked at a barrier: an abort is noticed within this time. */
const SLICE_MS = 200;

/** One thread's view of the shared step. */
export class Shard {
  private readonly grads: Float32Array[];
  private readonly squares: Float64Array;
  private readonly control: Int32Array;
  private readonly offsets: number[] = [];
  /** Indices of the parameters this thread updates. */
  readonly owned: number[];
  /** Gradient tensors over buffer 0 for the owned parameters (what AdamW reads). */
  private readonly gradTensors: Tensor[];
  private opt: AdamW | null = null;

  constructor(private readonly init: ShardInit, readonly thread: number, private readonly params: readonly Tensor[]) {
    if (params.length !== init.sizes.length || params.some((p, i) => p.size !== init.sizes[i])) {
      throw new ModelError('train', 'worker parameters do not match the main thread\'s');
    }
    this.grads = init.gradBuffers.map((b) => new Float32Array(b));
    this.squares = new Float64Array(init.squares);
    this.control = new Int32Array(init.control);
    let off = 0;
    for (const n of init.sizes) {
      this.offsets.push(off);
      off += n;
    }
    this.owned = this.ownedBy(thread);
    this.gradTensors = this.owned.map((i) => {
      const p = params[i]!;
      // Kept out of any enclosing scope: the pool outlives the train() call that built it.
      const g = keep(tensor(new Float32Array(p.size), p.shape, { device: p.device }));
      return useCpuMemory(g, this.grads[0]!.subarray(this.offsets[i]!, this.offsets[i]! + p.size));
    });
  }

  /** Indices of the parameters thread `t` owns. */
  ownedBy(t: number): number[] {
    return this.init.owner.flatMap((o, i) => (o === t ? [i] : []));
  }

  /** A fresh optimizer for the owned parameters (each train() call), or one resumed from `resume`. */
  begin(o: ShardOptimizer): void {
    this.opt?.dispose();
    this.opt = new AdamW(this.owned.map((i) => this.params[i]!), { lr: o.lr, weightDecay: o.weightDecay });
    if (o.resume) this.opt.loadState(o.resume);
  }

  /** The owned parameters' optimizer state (moments in `owned` order). */
  async state(): Promise<AdamWState> {
    if (!this.opt) throw new ModelError('train', 'no optimizer state: the shard has not begun a run');
    return this.opt.state();
  }

  get aborted(): boolean {
    return Atomics.load(this.control, ABORT) !== 0;
  }

  /** Make every thread blocked at a barrier give up (a thread failed). */
  abort(): void {
    Atomics.store(this.control, ABORT, 1);
    Atomics.notify(this.control, GRADS_READY);
    Atomics.notify(this.control, SQUARES_READY);
  }

  /** Copy this thread's gradients (null: none, i.e. zero) into its shared buffer. */
  publish(grads: readonly (Float32Array | null)[]): void {
    const mine = this.grads[this.thread]!;
    grads.forEach((g, i) => {
      const off = this.offsets[i]!;
      if (g) mine.set(g, off);
      else mine.fill(0, off, off + this.init.sizes[i]!);
    });
  }

  /** Sum the owned parameters' gradients over threads into buffer 0 and record their squares. */
  reduce(): void {
    const out = this.grads[0]!;
    for (const i of this.owned) {
      const s = this.offsets[i]!;
      const e = s + this.init.sizes[i]!;
      for (let t = 1; t < this.grads.length; t++) {
        const g = this.grads[t]!;
        for (let j = s; j < e; j++) out[j] = out[j]! + g[j]!;
      }
      let sq = 0;
      for (let j = s; j < e; j++) sq += out[j]! * out[j]!;
      this.squares[i] = sq;
    }
  }

  /** The global gradient norm (every thread gets the same number: same values, same order). */
  norm(): number {
    let total = 0;
    for (let i = 0; i < this.squares.length; i++) total += this.squares[i]!;
    return Math.sqrt(total);
  }

  /** Clip the owned gradients by the global norm (clip 0: no clipping) and take the AdamW step. */
  update(clip: number, lr: number): void {
    if (!this.opt) throw new ModelError('train', 'the shard has not begun a run');
    if (clip > 0) {
      const q = clip / (this.norm() + 1e-6);
      const factor = q !== q ? NaN : Math.min(q, 1);
      if (factor !== 1) {
        const out = this.grads[0]!;
        for (const i of this.owned) {
          const s = this.offsets[i]!;
          const e = s + this.init.sizes[i]!;
          for (let j = s; j < e; j++) out[j] = out[j]! * factor;
        }
      }
    }
    this.owned.forEach((i, k) => (this.params[i]!.grad = this.gradTensors[k]!));
    this.opt.lr = lr;
    this.opt.step();
    for (const i of this.owned) this.params[i]!.grad = null;
  }

  /** Count this thread in at barrier `b` (counters only grow: step `gen` is done at threads * gen). */
  arrive(b: 'grads' | 'squares'): void {
    const w = b === 'grads' ? GRADS_READY : SQUARES_READY;
    Atomics.add(this.control, w, 1);
    Atomics.notify(this.control, w);
  }

  /** Block until every thread reached barrier `b` of step `gen` (1, 2, ... over the pool's life; worker threads). Throws on abort. */
  waitSync(b: 'grads' | 'squares', gen: number): void {
    const w = b === 'grads' ? GRADS_READY : SQUARES_READY;
    const target = this.init.threads * gen;
    for (;;) {
      const v = Atomics.load(this.control, w);
      if (v >= target) return;
      if (this.aborted) throw new ModelError('train', 'aborted: another training thread failed');
      Atomics.wait(this.control, w, v, SLICE_MS);
    }
  }

  /** The same without blocking the event loop (main thread: worker errors must still arrive). */
  async waitAsync(b: 'grads' | 'squares', gen: number, failed: () => Error | null): Promise<void> {
    const w = b === 'grads' ? GRADS_READY : SQUARES_READY;
    const target = this.init.threads * gen;
    for (;;) {
      const v = Atomics.load(this.control, w);
      if (v >= target) return;
      const f = failed();
      if (f) throw f;
      if (this.aborted) throw new ModelError('train', 'aborted: a training worker failed');
      const r = waitAsync(this.control, w, v, SLICE_MS);
      if (r.async) await r.value;
    }
  }

  dispose(): void {
    this.opt?.dispose();
    this.opt = null;
  }
}
