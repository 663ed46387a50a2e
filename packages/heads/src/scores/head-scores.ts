/**
 * Head scores over a model and prompts. Each returns a [layers, heads] float32 tensor on the
 * model's device, computed from the attention patterns (hook_pattern) with device ops: a
 * masked sum of attention mass, an arg-max hit rate, or a mean entropy.
 */
import { argmax, broadcastTo, concat, greater, log, mul, neg, noGrad, pick, reshape, scope, sum, tensor, where, type Tensor } from '@attnlab/tensor';
import type { Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { toPrompts, type PromptInput, type Prompts } from './prompts.js';
import * as sel from './selections.js';

export const SCORE_NAMES = ['previous-token', 'induction', 'duplicate-token', 'retrieval', 'sink-mass', 'attention-entropy'] as const;
export type ScoreName = (typeof SCORE_NAMES)[number];

export const SCORE_DESCRIPTIONS: Record<ScoreName, string> = {
  'previous-token': 'mean attention on the previous token',
  induction: 'mean attention on the tokens after earlier occurrences of the current token (prefix matching)',
  'duplicate-token': 'mean attention on earlier occurrences of the current token',
  retrieval: "H1's copy-paste score: fraction of copy steps whose arg-max key holds the copied token",
  'sink-mass': 'mean attention on token 0',
  'attention-entropy': 'mean entropy of a query row (nats)',
};

export interface ScoreOptions {
  /** Retrieval: count only copy steps where the model predicts the copied token (H1; default true). */
  requireCorrect?: boolean;
}

function check(name: string): ScoreName {
  if (!(SCORE_NAMES as readonly string[]).includes(name)) throw new HeadsError('headScores', `unknown score '${name}' (known: ${SCORE_NAMES.join(', ')})`);
  return name as ScoreName;
}

function selectionFor(name: ScoreName, p: Prompts, predicted?: Int32Array): sel.Selection {
  switch (name) {
    case 'previous-token': return sel.previousToken(p);
    case 'induction': return sel.induction(p);
    case 'duplicate-token': return sel.duplicateToken(p);
    case 'retrieval': return sel.copySteps(p, predicted);
    case 'sink-mass': return sel.sink(p);
    case 'attention-entropy': return sel.allQueries(p);
  }
}

/** One layer's [1, H] row of a score from its pattern [B, H, N, N]. */
function layerRow(name: ScoreName, pattern: Tensor, s: sel.Selection): Tensor {
  const [B, H, N] = pattern.shape as [number, number, number, number];
  const dev = pattern.device;
  // An empty selection scores NaN: nothing was measured, which is not the same as 0.
  const denom = s.count || Number.NaN;
  if (name === 'attention-entropy') {
    const plogp = where(greater(pattern, 0), mul(pattern, log(pattern)), 0);
    const rows = sum(plogp, [3]);
    const q = tensor(s.queries, [B, 1, N], { device: dev });
    return reshape(mul(neg(sum(mul(rows, q), [0, 2])), 1 / denom), [1, H]);
  }
  const w = tensor(s.keys, [B, 1, N, N], { device: dev });
  if (name === 'retrieval') {
    const top = argmax(pattern, -1);
    const hit = pick(broadcastTo(w, [B, H, N, N]), top);
    return reshape(mul(sum(hit, [0, 2]), 1 / denom), [1, H]);
  }
  return reshape(mul(sum(mul(pattern, w), [0, 2, 3]), 1 / denom), [1, H]);
}

/**
 * Scores from patterns already computed: `patterns[l]` is layer l's [B, H, N, N]. `predicted`
 * ([B * N] arg-max tokens) restricts retrieval to the steps the model gets right.
 */
export function scoresFromPatterns(patterns: readonly Tensor[], input: PromptInput, names: readonly string[] = SCORE_NAMES, predicted?: Int32Array): Record<string, Tensor> {
  const p = toPrompts(input, 'scoresFromPatterns');
  if (!patterns.length) throw new HeadsError('scoresFromPatterns', 'no patterns (one [B, H, N, N] per layer)');
  patterns.forEach((t, l) => {
    if (t.rank !== 4 || t.shape[0] !== p.batchSize || t.shape[2] !== p.seqLen || t.shape[3] !== p.seqLen) {
      throw new HeadsError('scoresFromPatterns', `pattern of layer ${l} is [${t.shape.join(', ')}], expected [${p.batchSize}, H, ${p.seqLen}, ${p.seqLen}] for these prompts`);
    }
  });
  const out: Record<string, Tensor> = {};
  for (const raw of names) {
    const name = check(raw);
    const s = selectionFor(name, p, predicted);
    out[name] = noGrad(() => scope(() => concat(patterns.map((t) => layerRow(name, t, s)), 0)));
  }
  return out;
}

/** Runs the model once on the prompts and computes the named scores (default: all). */
export async function headScores(model: Transformer, input: PromptInput, names: readonly string[] = SCORE_NAMES, options: ScoreOptions = {}): Promise<Record<string, Tensor>> {
  const p = toPrompts(input, 'headScores');
  names.forEach(check);
  const tokens = tensor(p.tokens, [p.batchSize, p.seqLen], { dtype: 'int32', device: model.device });
  const { logits, cache } = await model.runWithCache(tokens, { names: [/hook_pattern$/] });
  try {
    const patterns = Array.from({ length: model.config.nLayers }, (_, l) => {
      const t = cache[`blocks.${l}.attn.hook_pattern`];
      if (!t) throw new HeadsError('headScores', `the model produced no blocks.${l}.attn.hook_pattern (its attention variant returns no weights)`);
      return t;
    });
    const predicted = names.includes('retrieval') && options.requireCorrect !== false ? new Int32Array(await noGrad(() => scope(() => argmax(logits, -1))).data()) : undefined;
    return scoresFromPatterns(patterns, p, names, predicted);
  } finally {
    tokens.dispose();
    logits.dispose();
    for (const k of Object.keys(cache)) (cache as unknown as Record<string, Tensor | undefined>)[k]?.dispose?.();
  }
}

/** One named score: [layers, heads]. */
export async function headScore(model: Transformer, name: ScoreName, input: PromptInput, options: ScoreOptions = {}): Promise<Tensor> {
  return (await headScores(model, input, [name], options))[name]!;
}

export const previousTokenScore = (m: Transformer, p: PromptInput): Promise<Tensor> => headScore(m, 'previous-token', p);
export const inductionScore = (m: Transformer, p: PromptInput): Promise<Tensor> => headScore(m, 'induction', p);
export const duplicateTokenScore = (m: Transformer, p: PromptInput): Promise<Tensor> => headScore(m, 'duplicate-token', p);
export const retrievalScore = (m: Transformer, p: PromptInput, o: ScoreOptions = {}): Promise<Tensor> => headScore(m, 'retrieval', p, o);
export const sinkMassScore = (m: Transformer, p: PromptInput): Promise<Tensor> => headScore(m, 'sink-mass', p);
export const entropyScore = (m: Transformer, p: PromptInput): Promise<Tensor> => headScore(m, 'attention-entropy', p);
