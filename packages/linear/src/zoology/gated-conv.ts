/**
 * Zoology's gated-convolution baseline as tensor ops (CPU and WebGPU, differentiable): an H3-lite
 * mixer y = q * longconv(shift(k) * v), channel by channel. The long convolution is a fixed bank
 * of exponential kernels with timescales spread log-uniformly over [1, maxTimescale] across the head's
 * channels (the "diagonal SSM" of H3 with fixed rather than learned poles; q, k, v projections are
 * the model's, learned). It runs as one causal Toeplitz matrix per channel, O(D N^2) memory, which
 * suits MQAR lengths (N <= 512).
 */
import { TensorError, concat, matmul, mul, reshape, slice, tensor, transpose, zeros, type Tensor } from '@attnlab/tensor';

export interface GatedConvOptions {
  /** Longest timescale of the kernel bank (default 256 tokens); channel c gets 256^(c/(D-1)). */
  maxTimescale?: number;
  /** Explicit timescales (>= 1) per channel, overriding maxTimescale. */
  timescales?: readonly number[];
  /** Apply H3's shift to k (default true). */
  shift?: boolean;
}

/** Log-uniform timescales 1 .. maxT over D channels. */
export function gatedConvTimescales(D: number, maxT = 256): number[] {
  if (!(Number.isFinite(maxT) && maxT >= 1)) throw new TensorError('gated-conv', `maxTimescale must be >= 1, got ${maxT}`);
  return Array.from({ length: D }, (_, c) => (D === 1 ? maxT : Math.pow(maxT, c / (D - 1))));
}

/** [D, N, N] transposed kernels: T[c, s, t] = (1 - l_c) l_c^(t - s) for s <= t, else 0. */
function kernels(ts: readonly number[], N: number): Float32Array {
  const D = ts.length;
  const m = new Float32Array(D * N * N);
  ts.forEach((tau, c) => {
    const l = 1 - 1 / tau;
    for (let s = 0; s < N; s++) for (let t = s; t < N; t++) m[(c * N + s) * N + t] = (1 - l) * Math.pow(l, t - s);
  });
  return m;
}

/**
 * q [B, H, Nq, D], k and v [B, H, Nk, D] (Nq <= Nk, queries end-aligned as in a decode step that
 * passes all keys so far) -> [B, H, Nq, D].
 */
export function gatedConv(q: Tensor, k: Tensor, v: Tensor, o: GatedConvOptions = {}): Tensor {
  const op = 'gated-conv';
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new TensorError(op, `q, k, v must be [B, H, N, D], got ranks ${q.rank}, ${k.rank}, ${v.rank}`);
  const [B, H, Nq, D] = q.shape as [number, number, number, number];
  const Nk = k.shape[2]!;
  for (const [name, t] of [['k', k], ['v', v]] as const) {
    if (t.shape[0] !== B || t.shape[1] !== H || t.shape[3] !== D || t.shape[2] !== Nk) throw new TensorError(op, `${name} [${t.shape.join(', ')}] must be [${B}, ${H}, ${Nk}, ${D}] (an elementwise gate needs Dv = D)`);
  }
  if (Nq > Nk) throw new TensorError(op, `q has ${Nq} rows but only ${Nk} keys`);
  const ts = o.timescales ? Array.from(o.timescales) : gatedConvTimescales(D, o.maxTimescale ?? 256);
  if (ts.length !== D) throw new TensorError(op, `timescales has ${ts.length} entries for head dim ${D}`);
  for (const t of ts) if (!(Number.isFinite(t) && t >= 1)) throw new TensorError(op, `timescales must be >= 1, got ${t}`);
  const dev = q.device;
  const ks = o.shift === false ? k : Nk === 1 ? zeros([B, H, 1, D], { device: dev }) : concat([zeros([B, H, 1, D], { device: dev }), slice(k, [0, 0, 0, 0], [B, H, Nk - 1, D])], 2);
  const u = transpose(mul(ks, v), 2, 3); // [B, H, D, N]
  const T = tensor(kernels(ts, Nk), [1, 1, D, Nk, Nk], { device: dev });
  const s = transpose(reshape(matmul(reshape(u, [B, H, D, 1, Nk]), T), [B, H, D, Nk]), 2, 3); // [B, H, N, D]
  const sq = Nq === Nk ? s : slice(s, [0, 0, Nk - Nq, 0], [B, H, Nq, D]);
  return mul(q, sq);
}

/** Bytes of recurrent state a decoder needs per head (float32): s and the previous k, 2 D numbers, whatever N. */
export function gatedConvStateBytes(D: number): number {
  return 4 * 2 * D;
}
