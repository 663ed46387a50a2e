/**
 * Streaming language modelling with StreamingLLM's cache (S1): per-token NLL over a stream far
 * longer than the training context, decoding one token at a time through a sinks + window KV
 * cache, against the sliding-window *recompute* baseline (each token predicted from a fresh
 * forward over its W preceding tokens), and streaming generation.
 */
import { noGrad, scope, tensor, TensorError, type Tensor } from '@attnlab/tensor';
import type { KVCache } from '@attnlab/attention';
import type { Transformer } from '@attnlab/models';
import { sinksWindow, type SinksWindowOptions } from './policy.js';

export interface StreamOptions extends SinksWindowOptions {
  /** RoPE positions: 'cache' (default, StreamingLLM: indices inside the cache) or 'absolute'. */
  positions?: 'absolute' | 'cache';
  /** Called every `every` tokens with the count done (progress in a notebook). */
  onProgress?: (done: number, total: number) => void;
  every?: number;
}

function checkTokens(tokens: ArrayLike<number>, model: Transformer, where: string): void {
  if (tokens.length < 2) throw new TensorError(where, `needs at least 2 tokens, got ${tokens.length}`);
  const V = model.config.vocabSize;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= V) throw new TensorError(where, `token ${t} at ${i} is outside the vocabulary of ${V}`);
  }
}

/** -log softmax(row)[target] in float64. */
function nllOf(logits: Float32Array, offset: number, V: number, target: number): number {
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, logits[offset + i]!);
  let z = 0;
  for (let i = 0; i < V; i++) z += Math.exp(logits[offset + i]! - m);
  return m + Math.log(z) - logits[offset + target]!;
}

async function logitsOf(model: Transformer, rows: readonly (readonly number[])[], kvCache?: KVCache): Promise<Float32Array> {
  return noGrad(() => scope(async () => {
    const t = tensor(Int32Array.from(rows.flat()), [rows.length, rows[0]!.length], { dtype: 'int32', device: model.device });
    const out: Tensor = await model.forward(t, kvCache ? { kvCache } : {});
    return (await out.data()) as Float32Array;
  }));
}

/**
 * NLL of tokens[i] given what the cache holds, for i = 1..n-1 (result[i - 1]), decoding through
 * a sinks + window cache. The first min(n, S + W) tokens are one prefill (nothing is evicted yet,
 * so it equals token-by-token decode); every later token is one decode step.
 */
export async function streamingNLL(model: Transformer, tokens: ArrayLike<number>, opts: StreamOptions): Promise<Float64Array> {
  checkTokens(tokens, model, 'streamingNLL');
  const n = tokens.length;
  const V = model.config.vocabSize;
  const cache = model.createKVCache({ policy: sinksWindow(opts), positions: opts.positions ?? 'cache' });
  const nll = new Float64Array(n - 1);
  const every = opts.every ?? 256;
  try {
    const pre = Math.min(n - 1, opts.sinks + opts.window);
    const first = await logitsOf(model, [Array.from({ length: pre }, (_, i) => tokens[i]!)], cache);
    for (let i = 0; i < pre; i++) nll[i] = nllOf(first, i * V, V, tokens[i + 1]!);
    for (let t = pre; t < n - 1; t++) {
      const l = await logitsOf(model, [[tokens[t]!]], cache);
      nll[t] = nllOf(l, 0, V, tokens[t + 1]!);
      if (opts.onProgress && (t + 1) % every === 0) opts.onProgress(t + 1, n - 1);
    }
  } finally {
    cache.dispose();
  }
  return nll;
}

export interface RecomputeOptions {
  /** Context tokens per prediction (W). */
  window: number;
  /** Which predictions (indices i of tokens[i], 1 ≤ i < n) to score; default all. */
  at?: readonly number[];
  /** Rows per forward (default 16). */
  batch?: number;
  /** Tokens put before every context (a model trained with a sink token gets it back); they count in W. */
  prefix?: readonly number[];
}

/**
 * The sliding-window recompute baseline: tokens[i] predicted from a fresh forward over
 * prefix + tokens[max(0, i - W + P) .. i - 1] (P = prefix length, positions from 0). Returns NLL
 * per requested index, in order.
 */
export async function recomputeNLL(model: Transformer, tokens: ArrayLike<number>, opts: RecomputeOptions): Promise<Float64Array> {
  checkTokens(tokens, model, 'recomputeNLL');
  const W = opts.window;
  if (!Number.isInteger(W) || W < 1) throw new TensorError('recomputeNLL', `window must be a positive integer, got ${W}`);
  const n = tokens.length;
  const at = opts.at ?? Array.from({ length: n - 1 }, (_, i) => i + 1);
  for (const i of at) if (!Number.isInteger(i) || i < 1 || i >= n) throw new TensorError('recomputeNLL', `index ${i} must be in [1, ${n - 1}]`);
  const prefix = [...(opts.prefix ?? [])];
  const C = W - prefix.length;
  if (C < 1) throw new TensorError('recomputeNLL', `window ${W} leaves no room after a prefix of ${prefix.length}`);
  const V = model.config.vocabSize;
  const out = new Float64Array(at.length);
  const B = opts.batch ?? 16;
  // Rows of equal length batch together: short contexts (i < W - P) run one by one.
  const full = at.map((i, r) => [i, r] as const).filter(([i]) => i >= C);
  for (const [i, r] of at.map((i, r) => [i, r] as const).filter(([i]) => i < C)) {
    const l = await logitsOf(model, [[...prefix, ...Array.from({ length: i }, (_, j) => tokens[j]!)]]);
    out[r] = nllOf(l, (prefix.length + i - 1) * V, V, tokens[i]!);
  }
  for (let s = 0; s < full.length; s += B) {
    const part = full.slice(s, s + B);
    const rows = part.map(([i]) => [...prefix, ...Array.from({ length: C }, (_, j) => tokens[i - C + j]!)]);
    const l = await logitsOf(model, rows);
    part.forEach(([i, r], b) => (out[r] = nllOf(l, (b * W + W - 1) * V, V, tokens[i]!)));
  }
  return out;
}

export interface StreamGenerateOptions extends SinksWindowOptions {
  maxNewTokens: number;
  positions?: 'absolute' | 'cache';
  temperature?: number;
  topK?: number;
  seed?: number;
}

/** Generation through a sinks + window cache: memory stays at S + W tokens per head however long it runs. */
export async function streamingGenerate(model: Transformer, prompt: readonly number[], opts: StreamGenerateOptions): Promise<number[]> {
  const out = await model.generate([prompt], {
    maxNewTokens: opts.maxNewTokens,
    cachePolicy: sinksWindow(opts),
    cachePositions: opts.positions ?? 'cache',
    ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
    ...(opts.topK !== undefined ? { topK: opts.topK } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  });
  const a = Array.from((await out.data()) as Int32Array);
  out.dispose();
  return a;
}
