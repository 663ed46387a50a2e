/**
 * StreamingLLM's pre-training with a learnable placeholder sink token (S1: “adding a placeholder
 * token as a dedicated attention sink during pre-training”): next-token windows over a token
 * stream where position 0 holds a dedicated id and T − 1 text tokens follow (the target of the
 * sink position is the first text token). With sinkId null, plain windows of T text tokens.
 */
import { TensorError, type Rng } from '@attnlab/tensor';
import type { Batch, Task } from '@attnlab/models';

export interface SinkTokenTaskOptions {
  /** Window length T (the sink token included). */
  seqLen: number;
  vocabSize: number;
  /** The dedicated sink id (usually the text vocabulary's size), or null for plain windows. */
  sinkId: number | null;
  name?: string;
}

export function sinkTokenTask(ids: Int32Array, o: SinkTokenTaskOptions): Task {
  const T = o.seqLen;
  if (!Number.isInteger(T) || T < 2) throw new TensorError('sinkTokenTask', `seqLen must be an integer >= 2, got ${T}`);
  if (o.sinkId !== null && !(Number.isInteger(o.sinkId) && o.sinkId >= 0 && o.sinkId < o.vocabSize)) throw new TensorError('sinkTokenTask', `sinkId ${o.sinkId} is outside the vocabulary of ${o.vocabSize}`);
  const textLen = o.sinkId === null ? T : T - 1;
  const starts = ids.length - textLen - 1;
  if (starts < 1) throw new TensorError('sinkTokenTask', `the stream has ${ids.length} tokens; windows need more than ${textLen + 1}`);
  const sinkId = o.sinkId;
  return {
    name: o.name ?? 'text',
    vocabSize: o.vocabSize,
    seqLen: T,
    params: { seqLen: T, tokens: ids.length, sinkToken: sinkId },
    sample(rng: Rng, batchSize: number): Batch {
      const n = batchSize * T;
      const b: Batch = { batchSize, seqLen: T, tokens: new Int32Array(n), targets: new Int32Array(n), lossMask: new Float32Array(n).fill(1), evalMask: new Float32Array(n).fill(1) };
      for (let r = 0; r < batchSize; r++) {
        const s = rng.int(starts);
        if (sinkId === null) {
          b.tokens.set(ids.subarray(s, s + T), r * T);
          b.targets.set(ids.subarray(s + 1, s + T + 1), r * T);
        } else {
          b.tokens[r * T] = sinkId;
          b.tokens.set(ids.subarray(s, s + T - 1), r * T + 1);
          b.targets.set(ids.subarray(s, s + T), r * T);
        }
      }
      return b;
    },
  };
}
