/** Per-row metrics a sweep measures from logits: accuracy and NLL at the counted positions. */
import { argmax, crossEntropy, noGrad, scope, tensor, type Tensor } from '@attnlab/tensor';
import { targetAt, counts, type Prompts } from '../scores/prompts.js';
import type { RowTotals } from './bootstrap.js';

/** Maps logits [B, N, V] to per-row totals (value = sum(num) / sum(den)). */
export type RowMetric = (logits: Tensor, prompts: Prompts) => Promise<RowTotals>;

function targetsOf(p: Prompts): Int32Array {
  const t = new Int32Array(p.batchSize * p.seqLen);
  for (let b = 0; b < p.batchSize; b++) for (let q = 0; q < p.seqLen; q++) t[b * p.seqLen + q] = targetAt(p, b, q);
  return t;
}

/** Top-1 accuracy of the next-token prediction at counted positions that have a target. */
export const accuracyMetric: RowMetric = async (logits, p) => {
  const pred = await noGrad(() => scope(() => argmax(logits, -1))).data();
  const t = targetsOf(p);
  const num = new Float64Array(p.batchSize);
  const den = new Float64Array(p.batchSize);
  for (let b = 0; b < p.batchSize; b++) {
    for (let q = 0; q < p.seqLen; q++) {
      const i = b * p.seqLen + q;
      if (t[i]! < 0 || !counts(p, b, q)) continue;
      den[b]++;
      if (pred[i] === t[i]) num[b]++;
    }
  }
  return { num, den };
};

/** Mean cross-entropy (nats) of the target at counted positions. */
export const nllMetric: RowMetric = async (logits, p) => {
  const t = targetsOf(p);
  const safe = Int32Array.from(t, (v) => Math.max(v, 0));
  const nll = await noGrad(() => scope(() => crossEntropy(logits, tensor(safe, [p.batchSize, p.seqLen], { dtype: 'int32', device: logits.device }), { reduction: 'none' }))).data();
  const num = new Float64Array(p.batchSize);
  const den = new Float64Array(p.batchSize);
  for (let b = 0; b < p.batchSize; b++) {
    for (let q = 0; q < p.seqLen; q++) {
      const i = b * p.seqLen + q;
      if (t[i]! < 0 || !counts(p, b, q)) continue;
      den[b]++;
      num[b] += nll[i]!;
    }
  }
  return { num, den };
};
