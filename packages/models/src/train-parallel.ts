/**
 * Data-parallel training on the CPU across Node worker threads: the batch is split by rows, each
 * thread (the main one included) computes the gradient of its rows' share of the masked mean loss;
 * then each thread sums, clips and applies AdamW to its own run of parameters (train-shard.ts).
 * Parameters, gradients and the norm's parts live in SharedArrayBuffers, so nothing is copied
 * between threads per step but each thread's own gradients into its shared buffer.
 * Deterministic for a given worker count (fixed split, fixed summation order).
 */
import { cpuView, shareCpuMemory, type AdamWState, type Tensor } from '@attnlab/tensor';
import { ModelError } from './errors.js';
import { Shard, newShardInit, type ShardInit, type ShardOptimizer } from './train-shard.js';
import type { ModelConfigInput } from './config.js';
import type { Batch } from './tasks.js';
import type { Transformer } from './transformer.js';

export interface WorkerInit {
  config: ModelConfigInput;
  params: { name: string; shape: number[]; buffer: SharedArrayBuffer }[];
  choices: { layer: number; head: number; name: string; options: Record<string, unknown> }[];
  shard: ShardInit;
  /** This worker's thread index in the shard (1, 2, ...; the main thread is 0). */
  thread: number;
}

export type WorkerRequest =
  | {
    id: number; kind: 'step';
    /** Step number over the pool's life (1, 2, ...): the barriers' target. */
    gen: number;
    rows: number; seqLen: number; tokens: Int32Array; targets: Int32Array; lossMask: Float32Array;
    /** 1 / (positions scored in the whole batch): each part's loss is its share of the mean. */
    scale: number;
    lr: number; clip: number;
  }
  | { id: number; kind: 'begin'; optimizer: ShardOptimizer }
  | { id: number; kind: 'state' };

type WorkerDone = { id: number; loss?: number; state?: AdamWState; error?: undefined };
export type WorkerReply = WorkerDone | { id: number; error: string };

interface WorkerLike {
  postMessage(m: unknown): void;
  on(ev: 'message', fn: (m: WorkerReply) => void): void;
  on(ev: 'error', fn: (e: Error) => void): void;
  off(ev: 'message', fn: (m: WorkerReply) => void): void;
  off(ev: 'error', fn: (e: Error) => void): void;
  ref(): void;
  unref(): void;
  terminate(): Promise<number>;
}

/** Pools kept per model between train() calls (workers stay warm; unref'd while idle). */
const pools = new WeakMap<Transformer, WorkerPool>();

/** Stop the training workers kept for `model` (they also go when the process exits). */
export async function stopTrainingWorkers(model: Transformer): Promise<void> {
  const p = pools.get(model);
  pools.delete(model);
  await p?.terminate();
}

/** Rows [start, start + rows) of a batch. */
export function batchRows(b: Batch, start: number, rows: number): Batch {
  const N = b.seqLen;
  const s = start * N;
  const e = (start + rows) * N;
  return { ...b, batchSize: rows, tokens: b.tokens.slice(s, e), targets: b.targets.slice(s, e), lossMask: b.lossMask.slice(s, e), evalMask: b.evalMask.slice(s, e) };
}

/** Split B rows into `parts` contiguous parts as evenly as possible (the first ones larger). */
export function splitRows(B: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < parts; i++) {
    const rows = Math.floor(B / parts) + (i < B % parts ? 1 : 0);
    out.push([start, rows]);
    start += rows;
  }
  return out;
}

export class WorkerPool {
  private nextId = 1;
  private gen = 0;
  private failed: Error | null = null;

  private constructor(
    private readonly workers: WorkerLike[], private readonly shard: Shard, private readonly params: readonly Tensor[],
    private readonly shared: readonly ArrayBufferLike[], private readonly choiceKey: string,
  ) {
    for (const w of workers) w.on('error', (e) => (this.failed ??= e));
  }

  /**
   * The pool kept for `model` if it still fits (same worker count, the same parameter tensors on
   * the same shared memory, the same attention variants), else a fresh one.
   */
  static async acquire(model: Transformer, n: number): Promise<WorkerPool> {
    const old = pools.get(model);
    const params = model.parameters();
    if (old && !old.failed && old.size === n && old.choiceKey === choiceKeyOf(model) && old.params.length === params.length &&
      params.every((p, i) => p === old.params[i] && !p.isDisposed && cpuView(p).buffer === old.shared[i])) {
      old.workers.forEach((w) => w.ref());
      return old;
    }
    pools.delete(model);
    await old?.terminate();
    const pool = await WorkerPool.start(model, n);
    pools.set(model, pool);
    return pool;
  }

  /** Let the process exit while the pool waits for the next train() call. */
  release(): void {
    this.workers.forEach((w) => w.unref());
  }

  get size(): number {
    return this.workers.length;
  }

  /** Start `n` workers with replicas of `model` (CPU only); moves its parameters into shared memory. */
  static async start(model: Transformer, n: number): Promise<WorkerPool> {
    if (model.device.kind !== 'cpu') throw new ModelError('train', `workers > 1 needs the CPU device, the model is on ${model.device.kind}`);
    if (typeof SharedArrayBuffer === 'undefined') throw new ModelError('train', 'workers > 1 needs SharedArrayBuffer');
    const mod = await import('node:worker_threads').catch(() => null);
    // In a browser bundle the module is an empty stand-in.
    const Worker = mod?.Worker;
    if (typeof Worker !== 'function') throw new ModelError('train', 'workers > 1 needs Node worker threads (not available here)');
    const named = model.namedParameters();
    const params = named.map(([name, t]) => ({ name, shape: [...t.shape], buffer: shareCpuMemory(t).buffer as SharedArrayBuffer }));
    const choices = choicesOf(model);
    const shard = newShardInit(named.map(([, t]) => t.size), n + 1);
    const url = new URL('./train-worker.js', import.meta.url);
    const workers: WorkerLike[] = [];
    for (let i = 1; i <= n; i++) {
      const init: WorkerInit = { config: model.config, params, choices, shard, thread: i };
      workers.push(new Worker(url, { workerData: init }) as unknown as WorkerLike);
    }
    const tensors = named.map(([, t]) => t);
    return new WorkerPool(workers, new Shard(shard, 0, tensors), tensors, params.map((p) => p.buffer), choiceKeyOf(model));
  }

  /** Send one request to worker i and resolve with its reply. */
  private request(i: number, req: WorkerRequest): Promise<WorkerDone> {
    return new Promise<WorkerDone>((resolve, reject) => {
      const w = this.workers[i]!;
      if (this.failed) {
        reject(new ModelError('train', `worker ${i + 1} failed: ${this.failed.message}`));
        return;
      }
      const onError = (e: Error): void => {
        w.off('message', onMessage);
        reject(new ModelError('train', `worker ${i + 1} failed: ${e.message}`));
      };
      // Replies carry the request id: one left over from an aborted step is ignored.
      const onMessage = (r: WorkerReply): void => {
        if (r.id !== req.id) return;
        w.off('message', onMessage);
        w.off('error', onError);
        if (r.error !== undefined) reject(new ModelError('train', `worker ${i + 1}: ${r.error}`));
        else resolve(r);
      };
      w.on('error', onError);
      w.on('message', onMessage);
      w.postMessage(req);
    });
  }

  /**
   * Start a train() call: a fresh AdamW (or one resumed from `resume`, a whole-model state) on
   * every thread for the parameters it owns.
   */
  async begin(o: { lr: number; weightDecay: number; resume?: AdamWState }): Promise<void> {
    const part = (thread: number): ShardOptimizer => {
      const r = o.resume;
      if (!r) return { lr: o.lr, weightDecay: o.weightDecay };
      if (r.moments.length !== this.params.length) {
        throw new ModelError('train', `resume.optimizer has ${r.moments.length} parameter moments, the model ${this.params.length} parameters`);
      }
      return { lr: o.lr, weightDecay: o.weightDecay, resume: { ...r, moments: this.shard.ownedBy(thread).map((i) => r.moments[i]!) } };
    };
    this.shard.begin(part(0));
    await Promise.all(this.workers.map((_, i) => this.request(i, { id: this.nextId++, kind: 'begin', optimizer: part(i + 1) })));
  }

  /** The whole model's AdamW state, gathered from the threads (parameter order). */
  async state(): Promise<AdamWState> {
    const states = [await this.shard.state(), ...(await Promise.all(this.workers.map(async (_, i) => {
      const r = await this.request(i, { id: this.nextId++, kind: 'state' });
      if (!r.state) throw new ModelError('train', `worker ${i + 1} sent no optimizer state`);
      return r.state;
    })))];
    const moments: AdamWState['moments'] = new Array(this.params.length).fill(null);
    states.forEach((s, t) => this.shard.ownedBy(t).forEach((i, k) => (moments[i] = s.moments[k]!)));
    return { steps: states[0]!.steps, lr: states[0]!.lr, moments };
  }

  /**
   * One training step: `parts[t]` goes to thread t (part 0 to `mine`, which runs forward and
   * backward here and leaves the gradients in the parameters' .grad); then every thread reduces,
   * clips and updates its parameters. Returns the batch loss and the gradient norm before clipping.
   */
  async step(parts: readonly Batch[], scale: number, lr: number, clip: number, mine: (b: Batch) => Promise<number>): Promise<{ loss: number; gradNorm: number }> {
    if (parts.length !== this.workers.length + 1) throw new ModelError('train', `${parts.length} batch parts for ${this.workers.length + 1} threads`);
    const gen = ++this.gen;
    const replies = parts.slice(1).map((b, i) => this.request(i, {
      id: this.nextId++, kind: 'step', gen, rows: b.batchSize, seqLen: b.seqLen, tokens: b.tokens, targets: b.targets, lossMask: b.lossMask, scale, lr, clip,
    }));
    // A failed worker's reply names the error; the barrier only sees the abort.
    const firstError = (): Error | null => this.failed;
    try {
      const loss = await mine(parts[0]!);
      this.shard.publish(this.params.map((p) => (p.grad ? cpuView(p.grad) : null)));
      for (const p of this.params) {
        p.grad?.dispose();
        p.grad = null;
      }
      this.shard.arrive('grads');
      await this.shard.waitAsync('grads', gen, firstError);
      this.shard.reduce();
      this.shard.arrive('squares');
      await this.shard.waitAsync('squares', gen, firstError);
      const gradNorm = clip > 0 ? this.shard.norm() : NaN;
      this.shard.update(clip, lr);
      let total = loss;
      for (const r of await Promise.all(replies)) total += r.loss ?? NaN;
      return { loss: total, gradNorm };
    } catch (e) {
      // The threads' counters no longer agree: this pool is done; the next train() starts a new one.
      this.shard.abort();
      this.failed ??= e as Error;
      const settled = await Promise.allSettled(replies);
      const workerError = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected' && !/aborted/.test(String(s.reason?.message)));
      throw workerError ? workerError.reason : e;
    }
  }

  async terminate(): Promise<void> {
    this.shard.dispose();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function choicesOf(model: Transformer): WorkerInit['choices'] {
  const choices: WorkerInit['choices'] = [];
  for (let layer = 0; layer < model.config.nLayers; layer++) {
    for (let head = 0; head < model.config.nHeads; head++) {
      const c = model.getAttentionChoice(layer, head);
      if (c.name !== 'softmax' || Object.keys(c.options).length) choices.push({ layer, head, ...c });
    }
  }
  return choices;
}

function choiceKeyOf(model: Transformer): string {
  return JSON.stringify(choicesOf(model));
}
