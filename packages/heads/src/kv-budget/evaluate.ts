/**
 * Accuracy and KV bytes of a model decoding through its one KVCache with per-head policies (full
 * on some heads, sinks + window on others, any KVPolicy): the measurement every head-wise budget
 * method (DuoAttention, MoA) is judged by. The prompt is prefilled up to the first counted
 * position and the rest is fed one token at a time (teacher forcing), so every streaming head
 * has evicted down to its budget by the end; bytes are read from the cache then.
 */
import { argmax, concat, noGrad, scope, slice, tensor, type Tensor } from '@attnlab/tensor';
import type { KVCache, PolicyLike } from '@attnlab/attention';
import type { Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { counts, targetAt, toPrompts, type PromptInput } from '../scores/prompts.js';

export type HeadPolicies = PolicyLike | ((layer: number, head: number) => PolicyLike);

export interface CacheEvalOptions {
  prompts: PromptInput;
  /** One policy for every head or (layer, head) => policy; null keeps everything. */
  policy: HeadPolicies;
  /** Tokens fed per step after the prefill (default 1). */
  chunk?: number;
}

export interface CacheEvalResult {
  /** Top-1 accuracy at the counted positions. */
  accuracy: number;
  scored: number;
  /** Bytes the cache holds at the end (keys + values, all layers, heads and rows). */
  bytes: number;
  /** Bytes a full cache would hold for the same prompts. */
  fullBytes: number;
  /** fullBytes / bytes. */
  reduction: number;
  /** Bytes per [layer][head] at the end. */
  bytesPerHead: number[][];
}

export async function evaluateWithCache(model: Transformer, options: CacheEvalOptions): Promise<CacheEvalResult> {
  const p = toPrompts(options.prompts, 'evaluateWithCache');
  const chunk = options.chunk ?? 1;
  if (!Number.isInteger(chunk) || chunk < 1) throw new HeadsError('evaluateWithCache', `chunk must be a positive integer, got ${chunk}`);
  const { batchSize: B, seqLen: N } = p;
  if (N > model.config.nCtx) throw new HeadsError('evaluateWithCache', `prompts have ${N} positions, the model at most ${model.config.nCtx}`);
  let first = N;
  for (let b = 0; b < B; b++) for (let q = 0; q < N; q++) if (counts(p, b, q) && targetAt(p, b, q) >= 0) first = Math.min(first, q);
  if (first === N) throw new HeadsError('evaluateWithCache', 'no counted position has a target');
  const prefill = Math.max(1, first);
  const cache: KVCache = model.createKVCache({ batch: B, policy: options.policy as never });
  try {
    const preds: Int32Array[] = [];
    await noGrad(() => scope(async () => {
      const tok = tensor(p.tokens, [B, N], { dtype: 'int32', device: model.device });
      const parts: Tensor[] = [];
      for (let s = 0; s < N;) {
        const n = s === 0 ? prefill : Math.min(chunk, N - s);
        const logits = await model.forward(slice(tok, [0, s], [B, n]), { kvCache: cache });
        parts.push(argmax(logits, -1));
        s += n;
      }
      preds.push(Int32Array.from(await concat(parts, 1).data()));
    }));
    const pred = preds[0]!;
    let hit = 0;
    let scored = 0;
    for (let b = 0; b < B; b++) {
      for (let q = 0; q < N; q++) {
        const t = targetAt(p, b, q);
        if (t < 0 || !counts(p, b, q)) continue;
        scored++;
        if (pred[b * N + q] === t) hit++;
      }
    }
    const L = model.config.nLayers;
    const bytesPerHead = Array.from({ length: L }, (_, l) => cache.bytesPerHead(l));
    const bytes = cache.bytes();
    const fullBytes = L * model.config.nHeads * B * N * model.config.dHead * 2 * 4;
    return { accuracy: hit / scored, scored, bytes, fullBytes, reduction: fullBytes / bytes, bytesPerHead };
  } finally {
    cache.dispose();
  }
}
