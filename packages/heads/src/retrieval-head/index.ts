/**
 * H1 Retrieval Head (Wu et al.): detect heads by their copy-paste score, then test the paper's
 * "causal" claim by ablating them against random non-retrieval heads of the same number.
 * Our operationalisation (papers.md §2.3): a head's retrieval score is the fraction of copy steps
 * (the model emits a token already in its context) at which the head's arg-max key holds that
 * token; a retrieval head scores >= threshold (0.5).
 */
import type { HeadSelector, Transformer } from '@attnlab/models';
import type { Tensor } from '@attnlab/tensor';
import { HeadsError } from '../errors.js';
import { headScores, type ScoreOptions } from '../scores/head-scores.js';
import type { PromptInput } from '../scores/prompts.js';
import { headSweep, type AblationMode, type AblationResult, type RandomBaseline, type SweepProgress } from '../sweeps/ablation.js';
import type { BootstrapOptions } from '../sweeps/bootstrap.js';

export interface RetrievalHeadOptions extends ScoreOptions {
  prompts: PromptInput;
  /** Score at or above which a head is a retrieval head (default 0.5). */
  threshold?: number;
}

export interface RetrievalHeads {
  /** [layers, heads] retrieval scores. */
  scores: Tensor;
  values: number[][];
  /** Heads at or above the threshold, highest score first. */
  heads: HeadSelector[];
  fraction: number;
  /** Retrieval heads per layer. */
  byLayer: number[];
  threshold: number;
}

/** Scores every head and selects the retrieval heads. */
export async function findRetrievalHeads(model: Transformer, o: RetrievalHeadOptions): Promise<RetrievalHeads> {
  const threshold = o.threshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1)) throw new HeadsError('findRetrievalHeads', `threshold must be in [0, 1], got ${threshold}`);
  const scores = (await headScores(model, o.prompts, ['retrieval'], o))['retrieval']!;
  const values = (await scores.array()) as number[][];
  const ranked = rankHeads(values);
  const heads = ranked.filter((s) => values[s.layer]![s.head]! >= threshold);
  const byLayer = values.map((_, l) => heads.filter((s) => s.layer === l).length);
  return { scores, values, heads, fraction: heads.length / (values.length * values[0]!.length), byLayer, threshold };
}

/** Every head, highest value first (ties: earlier layer, then head). */
export function rankHeads(values: readonly (readonly number[])[]): HeadSelector[] {
  const all: HeadSelector[] = [];
  values.forEach((row, layer) => row.forEach((_, head) => all.push({ layer, head })));
  const v = (s: HeadSelector): number => { const x = values[s.layer]![s.head]!; return Number.isNaN(x) ? -Infinity : x; };
  return all.sort((a, b) => v(b) - v(a) || a.layer - b.layer || a.head - b.head);
}

export interface CausalTestOptions {
  prompts: PromptInput;
  /** Heads to ablate together (e.g. the retrieval heads, or the top k by score). */
  heads: readonly HeadSelector[];
  mode?: AblationMode;
  /** Random sets of the same size drawn from the other heads (default 20). */
  draws?: number;
  seed?: number;
  bootstrap?: BootstrapOptions;
  onProgress?: (p: SweepProgress) => void;
}

export interface CausalTest {
  clean: number;
  top: AblationResult;
  random: RandomBaseline;
}

/** H1's "causal" test: ablate `heads` together vs random non-retrieval sets of the same size (copy accuracy). */
export async function retrievalCausalTest(model: Transformer, o: CausalTestOptions): Promise<CausalTest> {
  if (!o.heads.length) throw new HeadsError('retrievalCausalTest', 'heads is empty: nothing to ablate');
  const sweep = headSweep(model, { prompts: o.prompts, metric: 'accuracy', mode: o.mode ?? 'zero', ...(o.bootstrap ? { bootstrap: o.bootstrap } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
  const clean = await sweep.clean();
  const top = await sweep.ablate(o.heads);
  const random = await sweep.randomBaseline(o.heads.length, { draws: o.draws ?? 20, exclude: o.heads, seed: o.seed ?? 1 });
  return { clean, top, random };
}

/** |A ∩ B| / |A ∪ B| of two head sets (1 when both are empty). */
export function jaccard(a: readonly HeadSelector[], b: readonly HeadSelector[]): number {
  const sa = new Set(a.map((s) => `${s.layer}:${s.head}`));
  const sb = new Set(b.map((s) => `${s.layer}:${s.head}`));
  let inter = 0;
  for (const x of sa) if (sb.has(x)) inter++;
  const union = sa.size + sb.size - inter;
  return union ? inter / union : 1;
}
