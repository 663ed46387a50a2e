/**
 * @attnlab/heads: head-level methods as a plugin. The shared core: `scores` (head scores over a
 * model and prompts, each a [layers, heads] tensor with a heatmap) and `sweeps` (head ablation
 * with random baselines and bootstrap intervals); one folder per paper on top (retrieval-head:
 * H1, duo-attention: H2, razor-attention: H3, moa: S7). Importing it in a notebook activates
 * `attnlabPlugin`, which registers the scores by name (ctx.registerScore) so widgets and `%scores`
 * find them, and the 'razor' attention variant; outside a kernel call `registerScores()` and
 * `registerVariants()`.
 */
import { registerAttention, type AttentionVariant } from '@attnlab/attention';
import { registerScore, type Transformer } from '@attnlab/models';
import { razorVariant } from './razor-attention/variant.js';
import type { Tensor } from '@attnlab/tensor';
import { HeadsError } from './errors.js';
import { headScore, SCORE_DESCRIPTIONS, SCORE_NAMES, type ScoreName } from './scores/head-scores.js';
import { copyingScores } from './scores/copying.js';
import type { PromptInput } from './scores/prompts.js';
import { vhdScore } from './vhd/score.js';

export * from './scores/index.js';
export * from './sweeps/index.js';
export * as retrievalHead from './retrieval-head/index.js';
export * from './gates/index.js';
export * from './kv-budget/index.js';
export * as duoAttention from './duo-attention/index.js';
export * as razorAttention from './razor-attention/index.js';
export * as moa from './moa/index.js';
export * as moh from './moh/index.js';
export * as sqa from './sqa/index.js';
export * as vhd from './vhd/index.js';
export * as thinkedit from './thinkedit/index.js';
export * as softpag from './softpag/index.js';
export { HeadsError } from './errors.js';

/** A registered score: compute(model, { prompts, requireCorrect? }). */
export interface RegisteredScore {
  description: string;
  compute(model: Transformer, options?: Record<string, unknown>): Promise<Tensor>;
}

function registered(name: ScoreName): RegisteredScore {
  return {
    description: SCORE_DESCRIPTIONS[name],
    compute: (model, options = {}) => {
      const prompts = (options['prompts'] ?? options['tokens']) as PromptInput | undefined;
      if (!prompts) throw new HeadsError(`score '${name}'`, 'options.prompts is required (a task Batch or rows of token ids)');
      return headScore(model, name, prompts, { ...(options['requireCorrect'] === false ? { requireCorrect: false } : {}) });
    },
  };
}

/** The OV-circuit copying scores by registered name (weights only; options.vocab restricts the vocabulary). */
const COPYING: Record<string, { description: string; field: 'eigen' | 'top1' }> = {
  copying: { description: 'OV circuit copying: sum(Re λ) / sum(|λ|) of W_E W_V W_O W_U (1 copies, -1 anti-copies)', field: 'eigen' },
  'copying-top1': { description: "OV circuit: share of tokens whose own logit is the top of their row", field: 'top1' },
};

function registeredCopying(name: string): RegisteredScore {
  const { description, field } = COPYING[name]!;
  return {
    description,
    compute: async (model, options = {}) => {
      // Weights only: prompts are ignored; options.vocab restricts the circuit to those token ids.
      const vocab = options['vocab'] as readonly number[] | undefined;
      const r = await copyingScores(model, vocab === undefined ? {} : { tokens: vocab });
      (field === 'eigen' ? r.top1 : r.eigen).dispose();
      r.logitGain.dispose();
      return r[field];
    },
  };
}

/** The plugin context methods used (a structural subset of the kernel's PluginContext). */
interface Context {
  registerScore(name: string, score: RegisteredScore): unknown;
  registerAttention?(name: string, variant: AttentionVariant): unknown;
}

export const attnlabPlugin = {
  id: '@attnlab/heads',
  activate(ctx: Context): void {
    for (const n of SCORE_NAMES) ctx.registerScore(n, registered(n));
    for (const n of Object.keys(COPYING)) ctx.registerScore(n, registeredCopying(n));
    ctx.registerScore('vhd', vhdScore);
    ctx.registerAttention?.(razorVariant.name, razorVariant);
  },
};

/** Register the 'razor' attention variant in @attnlab/attention's registry (scripts, tests); returns a disposable. */
export function registerVariants(): { dispose(): void } {
  return registerAttention(razorVariant.name, razorVariant);
}

/** Register the scores directly in @attnlab/models' registry (scripts, tests); returns one disposable. */
export function registerScores(): { dispose(): void } {
  const ds = [...SCORE_NAMES.map((n) => registerScore(n, registered(n))), ...Object.keys(COPYING).map((n) => registerScore(n, registeredCopying(n)))];
  ds.push(registerScore('vhd', vhdScore));
  return { dispose: () => ds.forEach((d) => d.dispose()) };
}
