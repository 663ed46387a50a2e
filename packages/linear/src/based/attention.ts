/**
 * L2 BASED: linear attention with the 2nd-order Taylor feature map (phi(q).phi(k) = 1 + s + s^2/2,
 * s = scale q.k over the first d' dims: the feature dim dial) with the normaliser, next to exact
 * softmax attention over a sliding window of the last W tokens. The state-size dial: F (dv + 1)
 * numbers for the linear branch, F = 1 + d' + d'^2, and 2 W d for the window's keys and values.
 */
import { and, attention, causal, linearAttention, slidingWindow, type LinearAttentionResult } from '@attnlab/attention';
import { slice, TensorError, type Tensor } from '@attnlab/tensor';

export interface BasedLinearOptions {
  /** d': how many leading dims of q and k enter the feature map (default all). */
  featureDim?: number;
  /** Default 1/sqrt(d'). */
  scale?: number;
  /** Default 'chunk'. */
  mode?: 'parallel' | 'recurrent' | 'chunk';
  chunkSize?: number;
  /** [B, H, F, Dv + 1] (F = 1 + d' + d'^2; the last column is the normaliser). */
  initialState?: Tensor | null;
  outputFinalState?: boolean;
}

/** Feature-map width F = 1 + d' + d'^2 of the Taylor map. */
export function taylorFeatureDim(featureDim: number): number {
  return 1 + featureDim + featureDim * featureDim;
}

export function checkFeatureDim(featureDim: unknown, D: number, op: string): number {
  const f = featureDim ?? D;
  if (typeof f !== 'number' || !Number.isInteger(f) || f < 1 || f > D) throw new TensorError(op, `featureDim must be an integer in [1, ${D}] (the head dim), got ${String(f)}`);
  return f;
}

/** The Taylor linear branch: out [B, H, N, Dv]. */
export async function basedLinear(q: Tensor, k: Tensor, v: Tensor, o: BasedLinearOptions = {}): Promise<LinearAttentionResult> {
  const op = 'basedLinear';
  if (q.rank !== 4 || k.rank !== 4) throw new TensorError(op, `q and k must be [B, H, N, D], got [${q.shape.join(', ')}] and [${k.shape.join(', ')}]`);
  const [B, H, , D] = q.shape as [number, number, number, number];
  const f = checkFeatureDim(o.featureDim, D, op);
  const cut = (x: Tensor): Tensor => (f === D ? x : slice(x, [0, 0, 0, 0], [B, H, x.shape[2]!, f]));
  return linearAttention(cut(q), cut(k), v, {
    featureMap: 'taylor2', normalize: true, scale: o.scale ?? 1 / Math.sqrt(f), mode: o.mode ?? 'chunk',
    ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
    ...(o.initialState ? { initialState: o.initialState } : {}),
    ...(o.outputFinalState ? { outputFinalState: true } : {}),
  });
}

/** Exact softmax attention over the last `window` tokens (causal). */
export async function slidingWindowAttention(q: Tensor, k: Tensor, v: Tensor, o: { window: number; scale?: number }): Promise<Tensor> {
  if (!Number.isInteger(o.window) || o.window < 1) throw new TensorError('slidingWindowAttention', `window must be a positive integer, got ${String(o.window)}`);
  const r = await attention(q, k, v, { mask: and(causal(), slidingWindow(o.window)), ...(o.scale !== undefined ? { scale: o.scale } : {}) });
  return r.out;
}

/**
 * Decode-state bytes (float32) of one head: linear branch F (dv + 1) with F = 1 + d' + d'^2,
 * window 2 W d. papers.md writes D dv + D + 2 W d with D the feature dim.
 */
export function basedStateBytes(o: { featureDim: number; dv: number; window: number; d: number }): { linear: number; window: number; total: number } {
  const linear = 4 * taylorFeatureDim(o.featureDim) * (o.dv + 1);
  const window = 4 * 2 * o.window * o.d;
  return { linear, window, total: linear + window };
}
