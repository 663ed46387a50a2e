/**
 * The (gated) delta rule (DeltaNet / Gated DeltaNet, fla's chunk_delta_rule and
 * chunk_gated_delta_rule) as tensor ops, so it runs on every device and autograd gives every
 * gradient (q, k, v, beta, gate, initial state):
 *
 *   S_t = a_t S_{t-1} + beta_t k_t (v_t - a_t S_{t-1}^T k_t)^T,   o_t = scale q_t S_t
 *
 * with a_t = exp(log-decay_t) (decay per head times the gate). Chunks of C rows use the UT transform:
 * with gamma_t = prod of a from the chunk start, Gam_ts = gamma_t / gamma_s (s <= t),
 *   (I + A) U = diag(beta) V - diag(beta gamma) K S,   A_ts = beta_t Gam_ts (k_t . k_s)  (s < t)
 *   O = scale (diag(gamma) Q S + ((Q K^T) . Gam . tril) U),   S' = gamma_C S + K^T diag(Gam_Cs) U
 * (I + A)^{-1} of the nilpotent strictly lower A is (I - A)(I + A^2)(I + A^4)... (log2 C products).
 * 'recurrent' is C = 1 (the recurrence itself), 'parallel' one chunk of N, 'chunk' C rows.
 */
import {
  add, concat, exp, matmul, mul, mulScalar, reshape, slice, sub, tensor, where, zeros, type Tensor,
} from '@attnlab/tensor';

/** [n, n] 0/1 masks on the device: lower triangle with the diagonal, strictly lower. */
function masks(dev: Tensor['device'], n: number): { incl: Tensor; strict: Tensor; eye: Tensor } {
  const incl = new Float32Array(n * n);
  const strict = new Float32Array(n * n);
  const eye = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) incl[i * n + j] = 1;
    for (let j = 0; j < i; j++) strict[i * n + j] = 1;
    eye[i * n + i] = 1;
  }
  const t = (a: Float32Array): Tensor => tensor(a, [n, n], { device: dev });
  return { incl: t(incl), strict: t(strict), eye: t(eye) };
}

/** (I + A)^{-1} for strictly lower A [..., n, n]. */
function invUnitLower(A: Tensor, eye: Tensor, n: number): Tensor {
  let P = mulScalar(A, -1);
  let R = add(eye, P);
  for (let p = 2; p < n; p *= 2) {
    P = matmul(P, P);
    R = matmul(R, add(eye, P));
  }
  return R;
}

export interface DeltaInputs {
  /** Featurised q, k [B, H, N, F]; v [B, H, N, W]; beta [B, H, N]. */
  fq: Tensor; fk: Tensor; v: Tensor; beta: Tensor;
  /** Log decay per row [B, H, N], or null for none. */
  logDecay: Tensor | null;
  /** [B, H, F, W] or null (zeros). */
  s0: Tensor | null;
}

export function deltaRule(x: DeltaInputs, scale: number, chunk: number): { out: Tensor; S: Tensor } {
  const { fq, fk, v, beta, logDecay } = x;
  const [B, H, N, F] = fq.shape as [number, number, number, number];
  const W = v.shape[3]!;
  const dev = fq.device;
  let S = x.s0 ?? zeros([B, H, F, W], { device: dev });
  const outs: Tensor[] = [];
  const C = Math.max(1, Math.min(chunk, N));
  const full = masks(dev, C);
  for (let t0 = 0; t0 < N; t0 += C) {
    const n = Math.min(C, N - t0);
    const m = n === C ? full : masks(dev, n);
    const rows = (t: Tensor, w: number): Tensor => slice(t, [0, 0, t0, 0], [B, H, n, w]);
    const Q = rows(fq, F);
    const K = rows(fk, F);
    const V = rows(v, W);
    const b = reshape(slice(beta, [0, 0, t0], [B, H, n]), [B, H, n, 1]);
    // Gam_ts = exp(G_t - G_s) on the lower triangle (G: cumulative log decay from the chunk start).
    let Gam: Tensor | null = null;
    let gam: Tensor | null = null;
    let gamEnd: Tensor | null = null;
    if (logDecay) {
      const a = reshape(slice(logDecay, [0, 0, t0], [B, H, n]), [B, H, 1, n]);
      const G = matmul(a, m.incl, { transB: true }); // G_t = sum_{s <= t} a_s, [B, H, 1, n]
      const Gc = reshape(G, [B, H, n, 1]);
      Gam = mul(exp(where(m.incl, sub(Gc, G), 0)), m.incl);
      gam = exp(Gc);
      gamEnd = reshape(slice(Gam, [0, 0, n - 1, 0], [B, H, 1, n]), [B, H, n, 1]); // Gam_{n-1, s}
    }
    const dec = (t: Tensor): Tensor => (Gam ? mul(t, Gam) : t);
    const A = mul(mul(b, dec(matmul(K, K, { transB: true }))), m.strict);
    const T = invUnitLower(A, m.eye, n);
    const bK = mul(b, gam ? mul(gam, K) : K);
    const U = matmul(T, sub(mul(b, V), matmul(bK, S)));
    const QS = matmul(Q, S);
    const intra = matmul(mul(dec(matmul(Q, K, { transB: true })), m.incl), U);
    outs.push(mulScalar(add(gam ? mul(gam, QS) : QS, intra), scale));
    const Kd = gamEnd ? mul(K, gamEnd) : K;
    const Sd = gam ? mul(S, reshape(slice(gam, [0, 0, n - 1, 0], [B, H, 1, 1]), [B, H, 1, 1])) : S;
    S = add(Sd, matmul(Kd, U, { transA: true }));
  }
  const out = outs.length === 1 ? outs[0]! : concat(outs, 2);
  return { out, S };
}
