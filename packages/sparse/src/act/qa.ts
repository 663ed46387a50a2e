/**
 * A synthetic QA task over a token stream (e.g. held-out text): a passage, a separator, then a
 * cue copied from the passage; the answer is the continuation of the cue in the passage, which
 * the model must retrieve from context (accuracy on each answer token, teacher-forced).
 */
import { Rng, TensorError } from '@attnlab/tensor';
import type { QAItem } from './calibrate.js';

export interface CopyQAOptions {
  n: number;
  /** Passage length (default 96). */
  passage?: number;
  /** Cue length copied from the passage (default 4). */
  cue?: number;
  /** Answer tokens (default 4). */
  answer?: number;
  /** Separator token ids between passage and cue. */
  sep: readonly number[];
  seed?: number;
}

export function copyQA(ids: ArrayLike<number>, o: CopyQAOptions): QAItem[] {
  const P = o.passage ?? 96;
  const C = o.cue ?? 4;
  const A = o.answer ?? 4;
  if (ids.length < P + 1) throw new TensorError('copyQA', `the stream has ${ids.length} tokens, a passage needs ${P}`);
  if (C + A > P) throw new TensorError('copyQA', `cue + answer (${C + A}) exceed the passage (${P})`);
  const r = new Rng(o.seed ?? 1);
  return Array.from({ length: o.n }, () => {
    const start = r.int(ids.length - P);
    const passage = Array.from({ length: P }, (_, i) => ids[start + i]!);
    const s = r.int(P - C - A + 1);
    const tail = passage.slice(s, s + C + A - 1);
    const tokens = [...passage, ...o.sep, ...tail];
    const at = P + o.sep.length + C - 1;
    return { tokens, answer: Array.from({ length: A }, (_, a) => ({ pos: at + a, token: passage[s + C + a]! })) };
  });
}
