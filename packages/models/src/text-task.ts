/**
 * Natural text as a training task: a token stream (from any Tokenizer: characters, bytes or
 * byte-pair merges) cut into random windows; every position predicts the next token.
 */
import type { Rng } from '@attnlab/tensor';
import { ModelError } from './errors.js';
import type { Batch, Task } from './tasks.js';
import type { Tokenizer } from './tokenizers.js';

export interface TextTaskOptions {
  /** The whole corpus as token ids. */
  tokens: Int32Array | readonly number[];
  vocabSize: number;
  seqLen: number;
  name?: string;
  /** Recorded with checkpoints (e.g. the file and tokenizer used). */
  params?: Record<string, unknown>;
  tokenizer?: Tokenizer;
}

export function textTask(o: TextTaskOptions): Task {
  const ids = o.tokens instanceof Int32Array ? o.tokens : Int32Array.from(o.tokens);
  if (!(Number.isInteger(o.seqLen) && o.seqLen > 0)) throw new ModelError('textTask', `seqLen must be a positive integer, got ${o.seqLen}`);
  if (!(Number.isInteger(o.vocabSize) && o.vocabSize > 0)) throw new ModelError('textTask', `vocabSize must be a positive integer, got ${o.vocabSize}`);
  if (ids.length < o.seqLen + 1) throw new ModelError('textTask', `the text has ${ids.length} tokens; windows of seqLen ${o.seqLen} need at least ${o.seqLen + 1}`);
  for (let i = 0; i < ids.length; i++) {
    const t = ids[i]!;
    if (!(t >= 0 && t < o.vocabSize)) throw new ModelError('textTask', `token ${t} at position ${i} is outside the vocabulary of ${o.vocabSize}`);
  }
  const N = o.seqLen;
  const starts = ids.length - N;
  return {
    name: o.name ?? 'text',
    vocabSize: o.vocabSize,
    seqLen: N,
    params: { tokens: ids.length, seqLen: N, vocabSize: o.vocabSize, ...(o.params ?? {}) },
    sample(rng: Rng, batchSize: number): Batch {
      const n = batchSize * N;
      const b: Batch = { batchSize, seqLen: N, tokens: new Int32Array(n), targets: new Int32Array(n), lossMask: new Float32Array(n).fill(1), evalMask: new Float32Array(n).fill(1) };
      for (let r = 0; r < batchSize; r++) {
        const s = rng.int(starts);
        b.tokens.set(ids.subarray(s, s + N), r * N);
        b.targets.set(ids.subarray(s + 1, s + N + 1), r * N);
      }
      return b;
    },
    ...(o.tokenizer ? { tokenName: (id: number) => o.tokenizer!.idToToken(id) } : {}),
  };
}
