/**
 * SQA (Sparse Query Attention): fewer query heads (H_q < H) cut the score computation QKᵀ in
 * proportion H_q / H. Here the symmetric form (H_kv = H_q, head size kept): a ViT/LM config with
 * nHeads = H_q and the base model's dHead. FLOPs count a multiply-add as 2.
 */
import type { ViTConfigInput } from '@attnlab/models';
import { HeadsError } from '../errors.js';

export interface ScoreShape {
  batch: number;
  /** Query heads. */
  heads: number;
  queries: number;
  keys: number;
  dHead: number;
}

function check(op: string, s: ScoreShape): void {
  for (const [k, v] of Object.entries(s)) if (!Number.isInteger(v) || v < 1) throw new HeadsError(op, `${k} must be a positive integer, got ${String(v)}`);
}

/** FLOPs of the scores QKᵀ (all pairs, no mask): 2·B·H_q·N_q·N_k·D. */
export function scoreFlops(s: ScoreShape): number {
  check('scoreFlops', s);
  return 2 * s.batch * s.heads * s.queries * s.keys * s.dHead;
}

/** FLOPs of QKᵀ plus weights·V (same count each): 4·B·H_q·N_q·N_k·D. */
export function attentionFlops(s: ScoreShape): number {
  return 2 * scoreFlops(s);
}

/** Score FLOPs of one forward of a ViT config over `batch` images (every layer, every query head). */
export function vitScoreFlops(cfg: ViTConfigInput, batch: number): number {
  const T = (cfg.imageSize / cfg.patchSize) ** 2 + 1;
  const dHead = cfg.dHead ?? cfg.dModel / cfg.nHeads;
  return cfg.nLayers * scoreFlops({ batch, heads: cfg.nHeads, queries: T, keys: T, dHead });
}

/** The SQA version of `base`: `queryHeads` heads (default H/2) of the base head size. */
export function sqaConfig(base: ViTConfigInput, queryHeads?: number): ViTConfigInput {
  const H = base.nHeads;
  const hq = queryHeads ?? H / 2;
  if (!Number.isInteger(hq) || hq < 1 || hq > H) throw new HeadsError('sqaConfig', `queryHeads must be an integer in [1, ${H}], got ${hq}`);
  if (base.dHead === undefined && base.dModel % H !== 0) throw new HeadsError('sqaConfig', `dModel ${base.dModel} is not divisible by nHeads ${H}; give dHead`);
  return { ...base, nHeads: hq, dHead: base.dHead ?? base.dModel / H };
}
