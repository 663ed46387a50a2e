import {
  AdamW, Rng, argmax, clipGradNorm, crossEntropy, div, equal, mul, mulScalar, noGrad, scope, sum, tensor, warmupCosine,
  type AdamWState, type Device, type RngState, type Tensor,
} from '@attnlab/tensor';
import { WorkerPool, batchRows, splitRows } from './train-parallel.js';
import { ProgressLine } from './progress-line.js';
import { ModelError } from './errors.js';
import type { Batch, Task } from './tasks.js';
import type { Transformer } from './transformer.js';

export interface StepInfo {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  elapsedMs: number;
}

export interface TrainOptions {
  steps: number;
  batchSize: number;
  lr: number;
  /** 'cosine' (default: linear warmup then cosine to lr/10), 'constant', or lr per step. */
  schedule?: 'cosine' | 'constant' | ((step: number) => number);
  warmupSteps?: number;
  weightDecay?: number;
  /** Global gradient-norm clip (default 1; 0 disables). */
  clip?: number;
  /** Seeds the batch stream (model init has its own seed). */
  seed?: number;
  /** Move the model here before training. */
  device?: Device;
  /** Called after every step (progress bars, logging); may be async. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /**
   * Draw a progress bar with the loss through the attnlab kernel's `progress()` (updated in place).
   * Default: on when running in the kernel (the global exists), off elsewhere.
   */
  progress?: boolean;
  /**
   * A one-line progress display on stderr (steps/s, loss, eta), redrawn in place. Default: on when
   * stderr is a terminal and there is no kernel progress bar (a script in a terminal).
   */
  progressLine?: boolean;
  /**
   * CPU threads for data-parallel training (this thread included): the batch is split by rows
   * across Node worker threads, then each thread sums, clips and AdamW-updates its own share of
   * the parameters in shared memory. Default 1. Deterministic for a given count; agrees with one
   * thread to float32 summation-order error; CPU device only.
   */
  workers?: number;
  /** Call `onEval` every this many steps (and after the last one). */
  evalEvery?: number;
  /** An evaluation (e.g. `(await evaluate(model, task)).accuracy`); its number drives early stopping. */
  onEval?: (info: { step: number; model: Transformer }) => number | Promise<number>;
  /** Stop when the eval metric has not improved for `patience` evaluations. */
  earlyStopping?: EarlyStopping;
  /** Call `onCheckpoint` with the resumable training state every this many steps. */
  checkpointEvery?: number;
  /** Save the state (and the model's parameters, which it does not hold) somewhere. */
  onCheckpoint?: (state: TrainState) => void | Promise<void>;
  /**
   * Continue a run from a checkpoint: the model must hold the parameters saved with it and the
   * other options must be the run's own; the result is bit-identical to the uninterrupted run.
   */
  resume?: TrainState;
}

export interface EarlyStopping {
  /** Evaluations without improvement before stopping. */
  patience: number;
  /** 'min' (default: losses, NLL) or 'max' (accuracy). */
  mode?: 'min' | 'max';
  /** Smallest change that counts as an improvement (default 0). */
  minDelta?: number;
}

/** Everything besides the parameters that a run needs to continue exactly (JSON-safe except the moments). */
export interface TrainState {
  /** Steps completed. */
  step: number;
  /** The batch stream's generator after those steps. */
  rng: RngState;
  optimizer: AdamWState;
  losses: number[];
  evals: { step: number; metric: number }[];
  early: { best: number | null; bad: number };
}

/** The slice of the kernel's `progress()` bar that training uses. */
interface Bar {
  update(n?: number, status?: string): void;
  done(status?: string): void;
}

/** A bar from the kernel's global `progress(total, options)`, or null outside the kernel or when turned off. */
function kernelBar(steps: number, wanted: boolean | undefined): Bar | null {
  if (wanted === false) return null;
  const make = (globalThis as { progress?: unknown }).progress;
  if (typeof make !== 'function') return null;
  return (make as (total: number, o: { label: string }) => Bar)(steps, { label: 'train' });
}

export interface TrainResult {
  losses: number[];
  /** Steps completed (fewer than asked when stopped early). */
  steps: number;
  stoppedEarly: boolean;
  /** Metrics returned by onEval, by step. */
  evals: { step: number; metric: number }[];
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
}

/** Tensors for one host batch on the model's device. */
export function batchTensors(model: Transformer, b: Batch): { tokens: Tensor; targets: Tensor; lossMask: Tensor; evalMask: Tensor } {
  const d = { device: model.device };
  const shape = [b.batchSize, b.seqLen];
  return {
    tokens: tensor(b.tokens, shape, { ...d, dtype: 'int32' }),
    targets: tensor(b.targets, shape, { ...d, dtype: 'int32' }),
    lossMask: tensor(b.lossMask, shape, d),
    evalMask: tensor(b.evalMask, shape, d),
  };
}

/** Mean cross-entropy over positions where mask is 1. */
export function maskedCrossEntropy(logits: Tensor, targets: Tensor, mask: Tensor): Tensor {
  const nll = crossEntropy(logits, targets, { reduction: 'none' });
  return div(sum(mul(nll, mask)), sum(mask));
}

/**
 * Train with AdamW and gradient clipping on batches drawn from `task`. Deterministic for a seed on
 * a given device (same init seed, same batch seed, same results).
 */
export async function train(model: Transformer, task: Task, options: TrainOptions): Promise<TrainResult> {
  const { steps, batchSize, lr } = options;
  if (!(steps > 0) || !(batchSize > 0) || !(lr > 0)) throw new ModelError('train', `steps, batchSize and lr must be positive (got ${steps}, ${batchSize}, ${lr})`);
  if (task.vocabSize > model.config.vocabSize) throw new ModelError('train', `task '${task.name}' uses ${task.vocabSize} tokens, the model has ${model.config.vocabSize}`);
  if (model.config.positional === 'learned' && task.seqLen > model.config.nCtx) throw new ModelError('train', `task sequences of ${task.seqLen} exceed the model context ${model.config.nCtx}`);
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new ModelError('train', `workers must be a positive integer, got ${workers}`);
  for (const k of ['evalEvery', 'checkpointEvery'] as const) {
    const v = options[k];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new ModelError('train', `${k} must be a positive integer, got ${v}`);
  }
  if (options.earlyStopping && !(Number.isInteger(options.earlyStopping.patience) && options.earlyStopping.patience > 0)) {
    throw new ModelError('train', `earlyStopping.patience must be a positive integer, got ${options.earlyStopping.patience}`);
  }
  if (options.earlyStopping && !options.onEval) throw new ModelError('train', 'earlyStopping needs onEval (the metric it watches)');
  const resume = options.resume;
  if (resume && !(Number.isInteger(resume.step) && resume.step >= 0 && resume.step <= steps)) {
    throw new ModelError('train', `resume.step ${resume?.step} is outside this run's ${steps} steps`);
  }
  if (options.device) await model.to(options.device);
  const warmup = options.warmupSteps ?? Math.min(100, Math.floor(steps / 10));
  const sched = typeof options.schedule === 'function'
    ? options.schedule
    : options.schedule === 'constant'
      ? (s: number) => (warmup > 0 && s < warmup ? (lr * (s + 1)) / warmup : lr)
      : warmupCosine({ lr, warmupSteps: warmup, totalSteps: steps });
  const params = model.parameters();
  const weightDecay = options.weightDecay ?? 0.01;
  // With workers, each thread runs AdamW on its own parameters (train-shard.ts).
  const pool = workers > 1 ? await WorkerPool.acquire(model, workers - 1) : null;
  const opt = pool ? null : new AdamW(params, { lr, weightDecay });
  const clip = options.clip ?? 1;
  const rng = new Rng(options.seed ?? 0);
  const losses: number[] = [];
  const evals: { step: number; metric: number }[] = [];
  const early = { best: null as number | null, bad: 0 };
  let first = 0;
  if (resume) {
    opt?.loadState(resume.optimizer);
    rng.setState(resume.rng);
    losses.push(...resume.losses);
    evals.push(...resume.evals);
    Object.assign(early, resume.early);
    first = resume.step;
  }
  const t0 = performance.now();
  let tokens = 0;
  let stoppedEarly = false;
  const bar = kernelBar(steps, options.progress);
  const line = !bar && (options.progressLine ?? ProgressLine.wanted()) ? new ProgressLine(steps, first) : null;
  let lrNow = lr;
  try {
    await pool?.begin({ lr, weightDecay, ...(resume ? { resume: resume.optimizer } : {}) });
    for (let step = first; step < steps; step++) {
      const batch = task.sample(rng, batchSize);
      lrNow = sched(step);
      const { loss, gradNorm } = await scope(async () => {
        if (pool) {
          // Each part's loss is its share of the batch's masked mean, so the gradients add up.
          let count = 0;
          for (let i = 0; i < batch.lossMask.length; i++) count += batch.lossMask[i]!;
          const scale = count > 0 ? 1 / count : 0;
          const parts = splitRows(batch.batchSize, pool.size + 1).map(([s0, rows]) => batchRows(batch, s0, rows));
          return pool.step(parts, scale, lrNow, clip, async (part) => {
            const bt = batchTensors(model, part);
            const logits = await model.run(bt.tokens, { grad: true });
            const mine = mulScalar(sum(mul(crossEntropy(logits, bt.targets, { reduction: 'none' }), bt.lossMask)), scale);
            mine.backward();
            return mine.item();
          });
        }
        const o = opt!;
        const bt = batchTensors(model, batch);
        const logits = await model.run(bt.tokens, { grad: true });
        const lt = maskedCrossEntropy(logits, bt.targets, bt.lossMask);
        lt.backward();
        const l = await lt.item();
        const norm = clip > 0 ? clipGradNorm(params, clip) : null;
        o.lr = lrNow;
        o.step();
        o.zeroGrad();
        return { loss: l, gradNorm: norm ? await norm.item() : NaN };
      });
      if (!Number.isFinite(loss)) throw new ModelError('train', `loss became ${loss} at step ${step}`);
      losses.push(loss);
      tokens += batchSize * task.seqLen;
      bar?.update(1, `loss ${loss.toFixed(4)}`);
      line?.update(step + 1, loss);
      if (options.onStep) {
        const elapsedMs = performance.now() - t0;
        await options.onStep({ step, steps, loss, lr: lrNow, gradNorm, tokensPerSecond: tokens / (elapsedMs / 1000), elapsedMs });
      }
      const done = step + 1;
      if (options.onEval && ((options.evalEvery && done % options.evalEvery === 0) || done === steps)) {
        const metric = await options.onEval({ step: done, model });
        evals.push({ step: done, metric });
        const es = options.earlyStopping;
        if (es) {
          const better = early.best === null || (es.mode === 'max' ? metric > early.best + (es.minDelta ?? 0) : metric < early.best - (es.minDelta ?? 0));
          if (better) {
            early.best = metric;
            early.bad = 0;
          } else if (++early.bad >= es.patience) {
            stoppedEarly = done < steps;
          }
        }
      }
      if (options.onCheckpoint && ((options.checkpointEvery && done % options.checkpointEvery === 0) || stoppedEarly)) {
        await options.onCheckpoint({ step: done, rng: rng.getState(), optimizer: pool ? await pool.state() : await opt!.state(), losses: [...losses], evals: [...evals], early: { ...early } });
      }
      if (stoppedEarly) break;
    }
  } finally {
    opt?.dispose();
    pool?.release();
    bar?.done(losses.length ? `loss ${losses.at(-1)!.toFixed(4)}` : '');
    line?.done();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { losses, steps: losses.length, stoppedEarly, evals, tokens, seconds, tokensPerSecond: tokens / seconds };
}

export interface EvalOptions {
  batches?: number;
  batchSize?: number;
  /** Seed of the evaluation stream (different from training by default). */
  seed?: number;
}

export interface EvalResult {
  /** Share of scored positions where the argmax is the target. */
  accuracy: number;
  /** Mean negative log-likelihood (nats) at scored positions. */
  nll: number;
  /** Accuracy per position (null where nothing is scored). */
  accuracyByPosition: (number | null)[];
  nllByPosition: (number | null)[];
  scored: number;
}

/** Accuracy and NLL of `model` on fresh batches of `task`, by position too. */
export async function evaluate(model: Transformer, task: Task, options: EvalOptions = {}): Promise<EvalResult> {
  const rng = new Rng(options.seed ?? 987654321);
  const batches = options.batches ?? 8;
  const B = options.batchSize ?? 32;
  const N = task.seqLen;
  const hit = new Float64Array(N);
  const nllSum = new Float64Array(N);
  const count = new Float64Array(N);
  for (let i = 0; i < batches; i++) {
    const batch = task.sample(rng, B);
    const [pred, nll] = await noGrad(() => scope(async () => {
      const bt = batchTensors(model, batch);
      const logits = await model.forward(bt.tokens);
      const nllT = crossEntropy(logits, bt.targets, { reduction: 'none' });
      const correct = equal(argmax(logits, -1), bt.targets);
      return [await correct.data(), await nllT.data()] as const;
    }));
    for (let b = 0; b < B; b++) {
      for (let p = 0; p < N; p++) {
        const j = b * N + p;
        if (!batch.evalMask[j]) continue;
        count[p]++;
        hit[p] += pred[j]!;
        nllSum[p] += nll[j]!;
      }
    }
  }
  let h = 0;
  let s = 0;
  let c = 0;
  for (let p = 0; p < N; p++) {
    h += hit[p]!;
    s += nllSum[p]!;
    c += count[p]!;
  }
  if (c === 0) throw new ModelError('evaluate', `task '${task.name}' scored no positions`);
  return {
    accuracy: h / c,
    nll: s / c,
    accuracyByPosition: Array.from(count, (n, p) => (n ? hit[p]! / n : null)),
    nllByPosition: Array.from(count, (n, p) => (n ? nllSum[p]! / n : null)),
    scored: c,
  };
}
