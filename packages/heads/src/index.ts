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
import type { PromptInput } from './scores/prompts.js';

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

/** The plugin context methods used (a structural subset of the kernel's PluginContext). */
interface Context {
  registerScore(name: string, score: RegisteredScore): unknown;
  registerAttention?(name: string, variant: AttentionVariant): unknown;
}

export const attnlabPlugin = {
  id: '@attnlab/heads',
  activate(ctx: Context): void {
    for (const n of SCORE_NAMES) ctx.registerScore(n, registered(n));
    ctx.registerAttention?.(razorVariant.name, razorVariant);
  },
};

/** Register the 'razor' attention variant in @attnlab/attention's registry (scripts, tests); returns a disposable. */
export function registerVariants(): { dispose(): void } {
  return registerAttention(razorVariant.name, razorVariant);
}

/** Register the scores directly in @attnlab/models' registry (scripts, tests); returns one disposable. */
export function registerScores(): { dispose(): void } {
  const ds = SCORE_NAMES.map((n) => registerScore(n, registered(n)));
  return { dispose: () => ds.forEach((d) => d.dispose()) };
}
