/**
 * The exact chunked form of a linear memory without momentum (tensor ops). With S = M^T
 * ([Dk, Dv], y = q S), a_t = 1 - alpha_t and b_t the L2 coupling (0 for 'dot', theta_t for
 * 'previous', a_t theta_t for 'retained'), every step is
 *
 *   S_t = a_t S_{t-1} + k_t u_t^T,   u_t = theta_t v_t - b_t S_{t-1}^T k_t.
 *
 * Inside a chunk with G_t = sum_{r <= t} log a_r (from the chunk start) and S_0 the state before it:
 *   (I + A) U = diag(theta) V - diag(b e^{G_{t-1}}) K S_0,   A_ts = b_t e^{G_{t-1} - G_s} (k_t . k_s), s < t
 *   y_t = e^{G_t} q_t S_0 + sum_{s <= t} e^{G_t - G_s} (q_t . k_s) u_s
 *   S_end = e^{G_end} S_0 + sum_s e^{G_end - G_s} k_s u_s^T
 * A is strictly lower (nilpotent): (I + A)^{-1} = (I - A)(I + A^2)(I + A^4)... For 'dot', A = 0 and
 * this is chunked decayed linear attention.
 */
import { add, addScalar, concat, exp, isGradEnabled, log, matmul, mul, mulScalar, neg, reshape, scope, slice, sub, tensor, where, type Tensor } from '@attnlab/tensor';
import type { Bias, GradAt } from './naive.js';

interface ChunkInputs {
  bias: Bias;
  gradAt: GradAt;
  /** theta and alpha: numbers or [B|1, H, N|1] tensors. */
  lr: number | Tensor;
  retention: number | Tensor;
  s0: Tensor;
  chunk: number;
}

/** The gate over rows [t0, t0 + n) as a number or a [B|1, H, n, 1] tensor (chunk mode). */
export function rowsOf(g: number | Tensor, t0: number, n: number): number | Tensor {
  if (typeof g === 'number') return g;
  const [b, h, N] = g.shape as [number, number, number];
  return N === 1 ? reshape(g, [b, h, 1, 1]) : reshape(slice(g, [0, 0, t0], [b, h, n]), [b, h, n, 1]);
}

function masks(dev: Tensor['device'], n: number): { incl: Tensor; strict: Tensor; eye: Tensor } {
  const incl = new Float32Array(n * n), strict = new Float32Array(n * n), eye = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) incl[i * n + j] = strict[i * n + j] = 1;
    incl[i * n + i] = eye[i * n + i] = 1;
  }
  const t = (a: Float32Array): Tensor => tensor(a, [n, n], { device: dev });
  return { incl: t(incl), strict: t(strict), eye: t(eye) };
}

/** (I + A)^{-1} for a strictly lower [.., n, n] A. */
function invUnitLower(A: Tensor, eye: Tensor, n: number): Tensor {
  let P = neg(A);
  let R = add(eye, P);
  for (let p = 2; p < n; p *= 2) {
    P = matmul(P, P);
    R = matmul(R, add(eye, P));
  }
  return R;
}

const scal = (x: Tensor, g: number | Tensor): Tensor => (typeof g === 'number' ? (g === 1 ? x : mulScalar(x, g)) : mul(x, g));
const prod = (x: number | Tensor, y: number | Tensor): number | Tensor => (typeof x === 'number' ? (typeof y === 'number' ? x * y : scal(y, x)) : scal(x, y));

export function chunkLinearMemory(q: Tensor, k: Tensor, v: Tensor, x: ChunkInputs): { out: Tensor; S: Tensor } {
  const [B, H, N, Dk] = q.shape as [number, number, number, number];
  const Dv = v.shape[3]!;
  const dev = q.device;
  const C = Math.max(1, Math.min(x.chunk, N));
  const full = masks(dev, C);
  const decays = !(typeof x.retention === 'number' && x.retention === 0);
  let S = x.s0;
  const outs: Tensor[] = [];
  const body = (t0: number): [Tensor, Tensor] => {
    const n = Math.min(C, N - t0);
    const m = n === C ? full : masks(dev, n);
    const rows = (t: Tensor, w: number): Tensor => slice(t, [0, 0, t0, 0], [B, H, n, w]);
    const Q = rows(q, Dk), K = rows(k, Dk), V = rows(v, Dv);
    const theta = rowsOf(x.lr, t0, n); // number or [., H, n|1, 1]
    const alpha = rowsOf(x.retention, t0, n);
    const a = typeof alpha === 'number' ? 1 - alpha : addScalar(neg(alpha), 1);
    // Decay factors (all ones without retention).
    let Gc: Tensor | null = null; // G_t as a column [B|1, H, n, 1]
    let Dincl: Tensor | null = null; // e^{G_t - G_s}, s <= t
    let DprevStrict: Tensor | null = null; // e^{G_{t-1} - G_s}, s < t
    let gPrev: Tensor | null = null; // e^{G_{t-1}} column
    let wEnd: Tensor | null = null; // e^{G_end - G_s} column
    let gEnd: Tensor | null = null; // e^{G_end} [., H, 1, 1]
    if (decays) {
      const la = typeof a === 'number' ? tensor(new Float32Array(n).fill(Math.log(a)), [1, 1, n, 1], { device: dev }) : log(a.shape[2] === n ? a : mul(a, tensor(new Float32Array(n).fill(1), [1, 1, n, 1], { device: dev })));
      const [b0, h0] = la.shape as [number, number];
      Gc = matmul(m.incl, la); // [b0, h0, n, 1] cumulative sums
      const Gp = sub(Gc, la);
      // G_t - G_s as sums of the log decays between s and t (sum_{s < r <= t} la_r), not as a difference
      // of two cumulative sums: late in a long chunk |G| is large and the difference would lose
      // float32 digits exactly where the weight e^{G_t - G_s} is near 1.
      const laRow = reshape(la, [b0, h0, 1, n]);
      const between = matmul(mul(m.incl, laRow), m.strict); // [t, s]: sum_{s < r <= t}
      Dincl = mul(exp(where(m.incl, between, 0)), m.incl);
      DprevStrict = mul(exp(where(m.strict, matmul(mul(m.strict, laRow), m.strict), 0)), m.strict); // sum_{s < r < t}
      gPrev = exp(Gp);
      gEnd = exp(slice(Gc, [0, 0, n - 1, 0], [b0, h0, 1, 1]));
      wEnd = exp(reshape(slice(between, [0, 0, n - 1, 0], [b0, h0, 1, n]), [b0, h0, n, 1])); // G_end - G_s
    }
    let U = scal(V, theta);
    if (x.bias === 'l2') {
      const b = x.gradAt === 'retained' ? prod(theta, a) : theta;
      const KK = matmul(K, K, { transB: true });
      const A = scal(mul(Dprev(DprevStrict, m.strict), KK), b);
      const T = invUnitLower(A, m.eye, n);
      const KS = matmul(K, S);
      U = matmul(T, sub(U, scal(gPrev ? mul(KS, gPrev) : KS, b)));
    }
    const QS = matmul(Q, S);
    const QK = mul(matmul(Q, K, { transB: true }), Dincl ?? m.incl);
    const Kw = wEnd ? mul(K, wEnd) : K;
    return [add(Gc ? mul(QS, exp(Gc)) : QS, matmul(QK, U)), add(gEnd ? mul(S, gEnd) : S, matmul(Kw, U, { transA: true }))];
  };
  // Without autograd each chunk's intermediates are freed at once (scope), as the previous state.
  const grad = isGradEnabled() && [q, k, v, x.s0, x.lr, x.retention].some((t) => typeof t === 'object' && t.requiresGrad);
  for (let t0 = 0; t0 < N; t0 += C) {
    const prev = S;
    const [o, next] = grad ? body(t0) : scope(() => body(t0));
    outs.push(o);
    S = next;
    if (!grad && prev !== x.s0) prev.dispose();
  }
  const out = outs.length === 1 ? outs[0]! : concat(outs, 2);
  if (!grad && outs.length > 1) outs.forEach((o) => o.dispose());
  return { out, S };
}

/** The strictly lower decay mask, or the plain strict mask without retention. */
function Dprev(d: Tensor | null, strict: Tensor): Tensor {
  return d ?? strict;
}
