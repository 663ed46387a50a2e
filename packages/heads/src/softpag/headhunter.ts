import type { HeadSelector } from '@attnlab/models';
import { HeadsError } from '../errors.js';

export interface HeadHunterOptions {
  /** Heads to choose from. */
  candidates: readonly HeadSelector[];
  /** Score of a head set (higher is better), e.g. a classifier score of PAG samples perturbing those heads. */
  objective: (heads: HeadSelector[]) => Promise<number> | number;
  /** Largest set (default 4). */
  maxHeads?: number;
  /** Stop when the best addition does not raise the score (default true). */
  stopWhenNoGain?: boolean;
  onStep?: (step: HeadHunterStep) => void | Promise<void>;
}

export interface HeadHunterStep {
  /** The set after this step. */
  selected: HeadSelector[];
  /** Its score. */
  score: number;
  /** The score of every candidate tried as this step's addition. */
  tried: { head: HeadSelector; score: number }[];
}

export interface HeadHunterResult {
  selected: HeadSelector[];
  score: number;
  trace: HeadHunterStep[];
  /** Objective calls made. */
  evaluations: number;
}

/**
 * HeadHunter: greedy forward selection. Each step adds the candidate whose addition scores best
 * (ties: the earlier candidate) until `maxHeads` heads are chosen or no addition improves the score.
 */
export async function headHunter(options: HeadHunterOptions): Promise<HeadHunterResult> {
  const { candidates, objective } = options;
  const maxHeads = options.maxHeads ?? 4;
  if (!Number.isInteger(maxHeads) || maxHeads < 1) throw new HeadsError('headHunter', `maxHeads must be a positive integer, got ${maxHeads}`);
  if (candidates.length === 0) throw new HeadsError('headHunter', 'candidates is empty');
  const keys = new Set<string>();
  for (const c of candidates) {
    const k = `${c.layer}:${c.head}`;
    if (keys.has(k)) throw new HeadsError('headHunter', `candidate layer ${c.layer} head ${c.head} is listed twice`);
    keys.add(k);
  }
  const score = async (set: HeadSelector[]): Promise<number> => {
    const s = await objective(set);
    if (!Number.isFinite(s)) throw new HeadsError('headHunter', `objective returned ${s} for heads ${set.map((h) => `L${h.layer}H${h.head}`).join(', ')}`);
    return s;
  };
  let selected: HeadSelector[] = [];
  let best = -Infinity;
  let evaluations = 0;
  const trace: HeadHunterStep[] = [];
  while (selected.length < Math.min(maxHeads, candidates.length)) {
    const tried: { head: HeadSelector; score: number }[] = [];
    for (const c of candidates) {
      if (selected.some((s) => s.layer === c.layer && s.head === c.head)) continue;
      tried.push({ head: { ...c }, score: await score([...selected, c]) });
      evaluations++;
    }
    const top = tried.reduce((a, b) => (b.score > a.score ? b : a));
    if (options.stopWhenNoGain !== false && selected.length > 0 && top.score <= best) break;
    selected = [...selected, top.head];
    best = top.score;
    const step = { selected: [...selected], score: best, tried };
    trace.push(step);
    await options.onStep?.(step);
  }
  return { selected, score: best, trace, evaluations };
}
