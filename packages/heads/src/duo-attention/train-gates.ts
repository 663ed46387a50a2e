/**
 * DuoAttention's optimisation-based head classification (H2): on synthetic passkey batches, with
 * the model frozen, learn α ∈ [0, 1] per head minimising the relative distillation error
 * mean‖y_mix − y_full‖² / mean‖y_full‖² (logits at the scored positions) + λ·mean|α| (the L1 push that
 * sends heads which do not need the full context to 0). The loss form is papers.md's assumption; the
 * normalisation makes λ independent of the logits' scale (at α = 1 the distillation gradient is 0,
 * so without it λ's effect would depend on the model). Heads that keep a high α are retrieval
 * heads (full cache); the rest become streaming heads (sinks + window).
 */
import { add, embedding, mean, mulScalar, noGrad, reshape, Rng, scope, square, sub, sum, tensor, type Tensor } from '@attnlab/tensor';
import type { Batch, Task, Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { freeze } from '../gates/freeze.js';
import { HeadGates } from '../gates/head-gates.js';
import { checkSpec, duoHooks, type StreamingSpec } from './mix.js';

export interface DuoTrainOptions extends StreamingSpec {
  /** Synthetic data (a passkey task); batches are drawn from it. */
  task: Task;
  steps: number;
  batchSize: number;
  lr?: number;
  /** Weight of mean|α| (default 0.05). */
  lambda?: number;
  /** Initial α (default 1: start from the full model). */
  init?: number;
  seed?: number;
  onStep?: (info: { step: number; loss: number; distill: number; alpha: Float32Array }) => void | Promise<void>;
}

export interface DuoTrainResult {
  gates: HeadGates;
  /** Final α, [layers * heads] row-major. */
  alpha: Float32Array;
  losses: number[];
}

/** Indices (b * N + q) of the scored positions of a batch. */
function scoredIndex(b: Batch): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < b.evalMask.length; i++) if (b.evalMask[i]) out.push(i);
  if (!out.length) throw new HeadsError('trainDuoGates', 'the task batch has no scored positions (evalMask is all zero)');
  return Int32Array.from(out);
}

export async function trainDuoGates(model: Transformer, o: DuoTrainOptions): Promise<DuoTrainResult> {
  checkSpec(o, 'trainDuoGates');
  for (const [n, v] of [['steps', o.steps], ['batchSize', o.batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new HeadsError('trainDuoGates', `${n} must be a positive integer, got ${String(v)}`);
  }
  if (!o.task || typeof o.task.sample !== 'function') throw new HeadsError('trainDuoGates', 'task must be a Task (e.g. passkey({ seqLen }))');
  if (o.task.seqLen > model.config.nCtx) throw new HeadsError('trainDuoGates', `task has ${o.task.seqLen} positions, the model at most ${model.config.nCtx}`);
  const lambda = o.lambda ?? 0.05;
  const { nLayers: L, nHeads: H } = model.config;
  const gates = new HeadGates({ layers: L, heads: H, init: o.init ?? 1, device: model.device });
  const opt = gates.optimizer(o.lr ?? 0.05);
  const rng = new Rng(o.seed ?? 0);
  const frozen = freeze(model);
  const losses: number[] = [];
  try {
    const hooks = duoHooks(model, (l) => gates.layer(l), o);
    for (let step = 0; step < o.steps; step++) {
      const batch = o.task.sample(rng, o.batchSize);
      const idx = scoredIndex(batch);
      const V = model.config.vocabSize;
      const flat = (logits: Tensor): Tensor => embedding(reshape(logits, [batch.batchSize * batch.seqLen, V]), tensor(idx, [idx.length], { dtype: 'int32', device: model.device }));
      const tokens = (): Tensor => tensor(batch.tokens, [batch.batchSize, batch.seqLen], { dtype: 'int32', device: model.device });
      const ref = await noGrad(() => scope(async () => flat(await model.forward(tokens()))));
      const refNorm = await noGrad(() => scope(() => mean(sum(square(ref), [1])).item()));
      if (!(refNorm > 0)) throw new HeadsError('trainDuoGates', `the full model's logits at the scored positions are all zero (norm ${refNorm})`);
      const [loss, distill] = await scope(async () => {
        const mixed = flat(await model.run(tokens(), { hooks, grad: true }));
        const d = mulScalar(mean(sum(square(sub(mixed, ref)), [1])), 1 / refNorm);
        const total = add(d, mulScalar(gates.l1(), lambda / (L * H)));
        total.backward();
        return [await total.item(), await d.item()];
      });
      ref.dispose();
      opt.step();
      opt.zeroGrad();
      gates.project();
      losses.push(loss);
      if (o.onStep) await o.onStep({ step, loss, distill, alpha: await gates.values() });
    }
  } finally {
    frozen.unfreeze();
  }
  return { gates, alpha: await gates.values(), losses };
}
