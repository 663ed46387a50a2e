/**
 * L4 Aaren: softmax attention of a fixed query as a many-to-many RNN, computed by a parallel
 * prefix scan. Each token i is the triple (m, u, w) = (s_i, 1, v_i); the associative operator
 *   m = max(m_a, m_b), u = u_a e^{m_a - m} + u_b e^{m_b - m}, w = w_a e^{m_a - m} + w_b e^{m_b - m}
 * is applied Hillis-Steele style: at step j every position t >= 2^j combines with t - 2^j, so
 * ceil(log2 N) steps give every prefix, and o_t = w_t / u_t. Written in tensor ops, so it runs
 * (and differentiates) on the CPU and on WebGPU alike.
 */
import { add, concat, div, exp, full, matmul, maximum, mul, mulScalar, reshape, slice, sub, TensorError, zeros, type Tensor } from '@attnlab/tensor';

export interface AarenScanOptions {
  /** Default 1/sqrt(D). */
  scale?: number;
  /** [B, H, 1, 2 + Dv]: (m, u, w) of the tokens before these (a decode or a split sequence). */
  initialState?: Tensor | null;
  /** Return the (m, u, w) after the last token as `finalState`. */
  outputFinalState?: boolean;
}

export interface AarenScanResult {
  /** [B, H, N, Dv]: o_t = softmax(s_{1..t}) v_{1..t}. */
  out: Tensor;
  /** Scan steps taken (the depth of the parallel scan): ceil(log2 N). */
  depth: number;
  /** Operator applications in all (the scan's work, N log N - N + 1 for Hillis-Steele). */
  work: number;
  /** [B, H, 1, 2 + Dv] (m, u, w) after the last token, when asked. */
  finalState?: Tensor;
}

// The identity's m: finite (not -Infinity) so e^{m_a - m} is exactly 0 with no inf - inf on WebGPU.
const NEG = -1e30;

/** q [B, H, D] (one query per head) or [B, H, 1, D]; k [B, H, N, D]; v [B, H, N, Dv]. */
export function aarenScan(q: Tensor, k: Tensor, v: Tensor, o: AarenScanOptions = {}): AarenScanResult {
  const op = 'aarenScan';
  if (k.rank !== 4 || v.rank !== 4) throw new TensorError(op, `k and v must be [B, H, N, D], got [${k.shape.join(', ')}] and [${v.shape.join(', ')}]`);
  const [B, H, N, D] = k.shape as [number, number, number, number];
  const Dv = v.shape[3]!;
  if (v.shape[0] !== B || v.shape[1] !== H || v.shape[2] !== N) throw new TensorError(op, `v [${v.shape.join(', ')}] must be [${B}, ${H}, ${N}, Dv]`);
  const q4 = q.rank === 3 ? reshape(q, [B, H, 1, D]) : q;
  if (q4.rank !== 4 || q4.shape[0] !== B || q4.shape[1] !== H || q4.shape[2] !== 1 || q4.shape[3] !== D) throw new TensorError(op, `q must be [${B}, ${H}, ${D}] or [${B}, ${H}, 1, ${D}] (one query per head), got [${q.shape.join(', ')}]`);
  if (N < 1) throw new TensorError(op, 'k has no tokens (N = 0)');
  const scale = o.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new TensorError(op, `scale must be finite, got ${scale}`);
  const dev = k.device;
  // s [B, H, N, 1]
  let m = matmul(k, q4, { transB: true });
  if (scale !== 1) m = mulScalar(m, scale);
  let u = full([B, H, N, 1], 1, { device: dev });
  let w = v;
  let depth = 0;
  let work = 0;
  for (let off = 1; off < N; off *= 2) {
    // The left operand of position t is position t - off (the identity below off).
    const shift = (x: Tensor, fill: number): Tensor => {
      const W = x.shape[3]!;
      const pad = fill === 0 ? zeros([B, H, off, W], { device: dev }) : full([B, H, off, W], fill, { device: dev });
      return concat([pad, slice(x, [0, 0, 0, 0], [B, H, N - off, W])], 2);
    };
    const mA = shift(m, NEG);
    const mN = maximum(mA, m);
    const a = exp(sub(mA, mN));
    const b = exp(sub(m, mN));
    u = add(mul(shift(u, 0), a), mul(u, b));
    w = add(mul(shift(w, 0), a), mul(w, b));
    m = mN;
    depth++;
    work += N - off;
  }
  const s0 = o.initialState ?? null;
  if (s0) {
    if (s0.rank !== 4 || s0.shape[0] !== B || s0.shape[1] !== H || s0.shape[2] !== 1 || s0.shape[3] !== 2 + Dv) throw new TensorError(op, `initialState must be [${B}, ${H}, 1, ${2 + Dv}] (m, u, w), got [${s0.shape.join(', ')}]`);
    if (s0.device !== dev) throw new TensorError(op, 'initialState must be on the device of k');
    // One more application of the operator: state (+) prefix_t for every t (broadcast over N).
    const m0 = slice(s0, [0, 0, 0, 0], [B, H, 1, 1]);
    const u0 = slice(s0, [0, 0, 0, 1], [B, H, 1, 1]);
    const w0 = slice(s0, [0, 0, 0, 2], [B, H, 1, Dv]);
    const mN = maximum(m, m0);
    const a = exp(sub(m0, mN));
    const b = exp(sub(m, mN));
    u = add(mul(u0, a), mul(u, b));
    w = add(mul(w0, a), mul(w, b));
    m = mN;
    depth++;
    work += N;
  }
  const res: AarenScanResult = { out: div(w, u), depth, work };
  if (o.outputFinalState) {
    const last = (x: Tensor): Tensor => slice(x, [0, 0, N - 1, 0], [B, H, 1, x.shape[3]!]);
    res.finalState = concat([last(m), last(u), last(w)], 3);
  }
  return res;
}
