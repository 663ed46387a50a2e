/**
 * Data-parallel training on the CPU across Node worker threads: the batch is split by rows, each
 * thread (the main one included) computes the gradient of its rows' share of the masked mean loss,
 * and the main thread sums them before clipping and the optimizer step. Parameters live in
 * SharedArrayBuffers, so AdamW's in-place update is what every replica reads next step.
 * Deterministic for a given worker count (fixed split, fixed summation order).
 */
import { addIntoCpu, cpuView, shareCpuMemory, type Tensor } from '@attnlab/tensor';
import { ModelError } from './errors.js';
import type { ModelConfigInput } from './config.js';
import type { Batch } from './tasks.js';
import type { Transformer } from './transformer.js';

export interface WorkerInit {
  config: ModelConfigInput;
  params: { name: string; shape: number[]; buffer: SharedArrayBuffer }[];
  choices: { layer: number; head: number; name: string; options: Record<string, unknown> }[];
  gradBuffer: SharedArrayBuffer;
}

export interface WorkerRequest {
  id: number;
  rows: number;
  seqLen: number;
  tokens: Int32Array;
  targets: Int32Array;
  lossMask: Float32Array;
  /** 1 / (positions scored in the whole batch): each part's loss is its share of the mean. */
  scale: number;
}

export type WorkerReply = { id: number; loss: number; error?: undefined } | { id: number; error: string; loss?: undefined };

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
  private readonly grads: Float32Array[];
  private failed: Error | null = null;

  private constructor(
    private readonly workers: WorkerLike[], gradBuffers: SharedArrayBuffer[], private readonly params: readonly Tensor[],
    private readonly shared: readonly ArrayBufferLike[], private readonly choiceKey: string,
  ) {
    this.grads = gradBuffers.map((b) => new Float32Array(b));
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
    const total = named.reduce((s, [, t]) => s + t.size, 0);
    const url = new URL('./train-worker.js', import.meta.url);
    const gradBuffers: SharedArrayBuffer[] = [];
    const workers: WorkerLike[] = [];
    for (let i = 0; i < n; i++) {
      const gradBuffer = new SharedArrayBuffer(total * 4);
      gradBuffers.push(gradBuffer);
      const init: WorkerInit = { config: model.config, params, choices, gradBuffer };
      workers.push(new Worker(url, { workerData: init }) as unknown as WorkerLike);
    }
    return new WorkerPool(workers, gradBuffers, named.map(([, t]) => t), params.map((p) => p.buffer), choiceKeyOf(model));
  }

  /** Run forward/backward for `parts[i]` on worker i; resolves with their losses once all are done. */
  run(parts: readonly Batch[], scale: number): Promise<number[]> {
    return Promise.all(parts.map((b, i) => new Promise<number>((resolve, reject) => {
      const w = this.workers[i]!;
      const id = this.nextId++;
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
        if (r.id !== id) return;
        w.off('message', onMessage);
        w.off('error', onError);
        if (r.error !== undefined) reject(new ModelError('train', `worker ${i + 1}: ${r.error}`));
        else resolve(r.loss);
      };
      w.on('error', onError);
      w.on('message', onMessage);
      const req: WorkerRequest = { id, rows: b.batchSize, seqLen: b.seqLen, tokens: b.tokens, targets: b.targets, lossMask: b.lossMask, scale };
      w.postMessage(req);
    })));
  }

  /** Add the first `count` workers' gradients into the parameters' .grad (in a fixed order). */
  accumulate(count: number): void {
    for (let w = 0; w < count; w++) {
      const g = this.grads[w]!;
      let off = 0;
      for (const p of this.params) {
        const part = g.subarray(off, off + p.size);
        off += p.size;
        if (!p.grad) throw new ModelError('train', `parameter ${p.name ?? ''} has no local gradient to accumulate into`);
        addIntoCpu(p.grad, part);
      }
    }
  }

  async terminate(): Promise<void> {
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
