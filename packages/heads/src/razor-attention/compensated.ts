/**
 * RazorAttention's compensation token (H3): a non-retrieval head keeps the first `sinks` tokens and
 * the `window` most recent, and the tokens it drops are summarised by one extra entry whose key and
 * value are the means of the dropped keys and values (papers.md's assumption), optionally with a
 * log(count) logit offset so the entry weighs as much as the tokens it stands for would if their
 * scores were equal. With the offset the token is exact when every dropped key is the same.
 *
 * Computed for a whole causal sequence at once: the kept part by masked flash attention (out and
 * lse), the compensation entry per query row from a [N, N] averaging matrix, merged by lse.
 */
import { add, div, exp, matmul, maximum, mul, mulScalar, reshape, sub, sum, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { attention } from '@attnlab/attention';
import { HeadsError } from '../errors.js';
import { checkSpec, streamingMask, type StreamingSpec } from '../duo-attention/mix.js';

export interface CompensationOptions extends StreamingSpec {
  /** Default 1/sqrt(D). */
  scale?: number;
  /** Add log(number of dropped tokens) to the compensation logit (default false: one plain extra token). */
  logCount?: boolean;
  /** false: plain dropping (no compensation token), for comparison. Default true. */
  compensate?: boolean;
}

/** Tokens query t drops: sinks <= j <= t − window. */
export function droppedCount(t: number, spec: StreamingSpec): number {
  return Math.max(0, t - spec.window - spec.sinks + 1);
}

/** [N, N] with row t averaging the keys query t drops (zeros where it drops none). */
function averagingMatrix(N: number, spec: StreamingSpec, device: Device): Tensor {
  const m = new Float32Array(N * N);
  for (let t = 0; t < N; t++) {
    const c = droppedCount(t, spec);
    for (let j = spec.sinks; j < spec.sinks + c; j++) m[t * N + j] = 1 / c;
  }
  return tensor(m, [1, 1, N, N], { device });
}

/** Per-row logit offset: log(count) (or 0) where the row drops tokens, -1e30 where it drops none. */
function rowOffsets(N: number, spec: StreamingSpec, logCount: boolean, device: Device): Tensor {
  const o = new Float32Array(N);
  for (let t = 0; t < N; t++) {
    const c = droppedCount(t, spec);
    o[t] = c === 0 ? -1e30 : logCount ? Math.log(c) : 0;
  }
  return tensor(o, [1, 1, N], { device });
}

/**
 * Streaming attention of q, k, v [B, H, N, D] (causal, Nq = Nk), with the compensation token
 * unless `compensate: false`. Returns out [B, H, N, Dv].
 */
export async function compensatedAttention(q: Tensor, k: Tensor, v: Tensor, o: CompensationOptions): Promise<Tensor> {
  checkSpec(o, 'compensatedAttention');
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new HeadsError('compensatedAttention', `q, k, v must be [B, H, N, D], got ${fmt(q)}, ${fmt(k)}, ${fmt(v)}`);
  const [B, H, N, D] = q.shape as [number, number, number, number];
  if (k.shape[0] !== B || k.shape[1] !== H || k.shape[2] !== N || k.shape[3] !== D || v.shape[0] !== B || v.shape[1] !== H || v.shape[2] !== N) {
    throw new HeadsError('compensatedAttention', `q ${fmt(q)}, k ${fmt(k)}, v ${fmt(v)}: needs equal B, H, N (causal self-attention) and k's D = q's`);
  }
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const kept = await attention(q, k, v, { mask: streamingMask(o), scale });
  if (o.compensate === false) return kept.out;
  const avg = averagingMatrix(N, o, q.device);
  const kBar = matmul(avg, k);
  const vBar = matmul(avg, v);
  const sc = add(mulScalar(sum(mul(q, kBar), [3]), scale), rowOffsets(N, o, o.logCount ?? false, q.device));
  const m = maximum(kept.lse, sc);
  const wa = exp(sub(kept.lse, m));
  const wc = exp(sub(sc, m));
  // lse-merge of the kept tokens' softmax with the one extra entry.
  const expand = (t: Tensor): Tensor => reshape(t, [...t.shape, 1]);
  return div(add(mul(kept.out, expand(wa)), mul(vBar, expand(wc))), expand(add(wa, wc)));
}

const fmt = (t: Tensor): string => `[${t.shape.join(', ')}]`;
