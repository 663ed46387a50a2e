/**
 * H8 VHR: reinforce the top-VHD heads by scaling their outputs by γ > 1 through the model's
 * HeadControls gates (z_h ← γ·z_h before W_O). A gate of 1 is the neutral control, so γ = 1
 * leaves every forward bit-identical; `restore()` puts back the gates that were there before.
 * Also the conflict-task evaluation that counts prior-driven errors.
 */
import { argmax, noGrad, scope, slice, reshape, Rng } from '@attnlab/tensor';
import type { HeadSelector, Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { allHeads } from '../sweeps/ablation.js';
import type { ConflictPrompts } from './conflict-task.js';

export interface Reinforcement {
  heads: HeadSelector[];
  gamma: number;
  /** Puts back each head's previous gate (other controls untouched). */
  restore(): void;
}

/** Multiplies the gate of each head by γ (finite, > 0). */
export function reinforceHeads(model: Transformer, heads: readonly HeadSelector[], gamma: number): Reinforcement {
  if (!Number.isFinite(gamma) || gamma <= 0) throw new HeadsError('reinforceHeads', `gamma must be a finite number > 0, got ${gamma}`);
  const seen = new Set<string>();
  for (const s of heads) {
    const k = `${s.layer}:${s.head}`;
    if (seen.has(k)) throw new HeadsError('reinforceHeads', `head L${s.layer}H${s.head} is listed twice`);
    seen.add(k);
  }
  const before = heads.map((s) => model.heads.get(s).gate ?? 1); // also range-checks each selector
  if (gamma !== 1) heads.forEach((s, i) => model.heads.set(s, { gate: before[i]! * gamma }));
  return {
    heads: heads.map((s) => ({ ...s })),
    gamma,
    restore: () => heads.forEach((s, i) => model.heads.set(s, { gate: before[i]! })),
  };
}

/** Runs `fn` with the heads reinforced, restoring the gates afterwards (also on error). */
export async function withReinforced<T>(model: Transformer, heads: readonly HeadSelector[], gamma: number, fn: () => Promise<T>): Promise<T> {
  const r = reinforceHeads(model, heads, gamma);
  try {
    return await fn();
  } finally {
    r.restore();
  }
}

export interface ConflictScore {
  rows: number;
  accuracy: number;
  /** Rows answered with the prior attribute where the context says otherwise (conflict rows only). */
  priorErrors: number;
  priorErrorRate: number;
  /** Wrong answers that are not the prior. */
  otherErrors: number;
  /** Per-row prediction at the answer position. */
  predicted: Int32Array;
}

/** Greedy answers on conflict-task prompts and their error kinds. */
export async function conflictScore(model: Transformer, p: ConflictPrompts, answerPos: number): Promise<ConflictScore> {
  const B = p.batchSize;
  const N = p.seqLen;
  if (!Number.isInteger(answerPos) || answerPos < 0 || answerPos >= N) throw new HeadsError('conflictScore', `answerPos ${answerPos} is outside the rows (${N} positions)`);
  const rows = Array.from({ length: B }, (_, b) => Array.from(p.tokens.subarray(b * N, (b + 1) * N)));
  const predicted = (await noGrad(() => scope(async () => {
    const logits = await model.run(rows);
    const V = logits.shape[2]!;
    return Int32Array.from((await argmax(reshape(slice(logits, [0, answerPos, 0], [B, 1, V]), [B, V]), -1).data()) as ArrayLike<number>);
  })));
  let correct = 0;
  let prior = 0;
  for (let b = 0; b < B; b++) {
    if (predicted[b] === p.answer[b]) correct++;
    else if (predicted[b] === p.priorAnswer[b]) prior++;
  }
  return { rows: B, accuracy: correct / B, priorErrors: prior, priorErrorRate: prior / B, otherErrors: B - correct - prior, predicted };
}

/** `draws` random sets of k distinct heads of the model, excluding `exclude` (seeded). */
export function randomHeadSets(model: Transformer, k: number, draws: number, seed: number, exclude: readonly HeadSelector[] = []): HeadSelector[][] {
  const pool = allHeads(model).filter((s) => !exclude.some((e) => e.layer === s.layer && e.head === s.head));
  if (!Number.isInteger(k) || k < 1 || k > pool.length) throw new HeadsError('randomHeadSets', `k must be an integer in [1, ${pool.length}], got ${k}`);
  if (!Number.isInteger(draws) || draws < 1) throw new HeadsError('randomHeadSets', `draws must be a positive integer, got ${draws}`);
  const rng = new Rng(seed);
  return Array.from({ length: draws }, () => {
    const a = pool.slice();
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(a.length - i);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a.slice(0, k);
  });
}
