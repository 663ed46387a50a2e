/**
 * Float64 references for L1 (Lightning Attention-2 / TNL), the test's ground truth. Rows are
 * [BH, N, D] flattened; decay lambda is one number per head (index bh % H). All three forms are
 * written out exactly as the paper's equations so they can be compared with each other:
 *   recurrent  S_t = lambda S_{t-1} + k_t^T v_t,  o_t = scale q_t S_t
 *   parallel   O = ((Q K^T) . D) V, D_ts = lambda^{t-s} (s <= t)
 *   chunk      O_i = ((Q_i K_i^T) . D_B) V_i + (Lambda_q Q_i) S_{i-1},
 *              S_i = lambda^B S_{i-1} + (Lambda_k K_i)^T V_i
 */
export interface NaiveDims {
  BH: number;
  H: number;
  N: number;
  D: number;
  Dv: number;
}

export interface NaiveOptions {
  /** One lambda per head (length H). */
  decay: readonly number[];
  scale: number;
  /** [BH, D, Dv] initial state (null: zeros). */
  s0?: ArrayLike<number> | null;
}

type Rows = ArrayLike<number>;

export function recurrentNaive(q: Rows, k: Rows, v: Rows, d: NaiveDims, o: NaiveOptions): { out: Float64Array; state: Float64Array } {
  const { BH, H, N, D, Dv } = d;
  const out = new Float64Array(BH * N * Dv);
  const state = new Float64Array(BH * D * Dv);
  for (let bh = 0; bh < BH; bh++) {
    const lam = o.decay[bh % H]!;
    const S = new Float64Array(D * Dv);
    if (o.s0) for (let i = 0; i < D * Dv; i++) S[i] = o.s0[bh * D * Dv + i]!;
    for (let t = 0; t < N; t++) {
      const r = bh * N + t;
      for (let a = 0; a < D; a++) {
        const ka = k[r * D + a]!;
        for (let c = 0; c < Dv; c++) S[a * Dv + c] = lam * S[a * Dv + c]! + ka * v[r * Dv + c]!;
      }
      for (let c = 0; c < Dv; c++) {
        let acc = 0;
        for (let a = 0; a < D; a++) acc += q[r * D + a]! * S[a * Dv + c]!;
        out[r * Dv + c] = o.scale * acc;
      }
    }
    state.set(S, bh * D * Dv);
  }
  return { out, state };
}

/** Masked parallel form; an initial state adds lambda^{t+1} q_t S_0. */
export function parallelNaive(q: Rows, k: Rows, v: Rows, d: NaiveDims, o: NaiveOptions): Float64Array {
  const { BH, H, N, D, Dv } = d;
  const out = new Float64Array(BH * N * Dv);
  for (let bh = 0; bh < BH; bh++) {
    const lam = o.decay[bh % H]!;
    for (let t = 0; t < N; t++) {
      const rt = bh * N + t;
      for (let s = 0; s <= t; s++) {
        const rs = bh * N + s;
        let qk = 0;
        for (let a = 0; a < D; a++) qk += q[rt * D + a]! * k[rs * D + a]!;
        const w = qk * Math.pow(lam, t - s);
        for (let c = 0; c < Dv; c++) out[rt * Dv + c] += w * v[rs * Dv + c]!;
      }
      if (o.s0) {
        const f = Math.pow(lam, t + 1);
        for (let c = 0; c < Dv; c++) {
          let acc = 0;
          for (let a = 0; a < D; a++) acc += q[rt * D + a]! * o.s0[(bh * D + a) * Dv + c]!;
          out[rt * Dv + c] += f * acc;
        }
      }
      for (let c = 0; c < Dv; c++) out[rt * Dv + c] *= o.scale;
    }
  }
  return out;
}

/** Chunked form with block size B (the last block may be short: its decays use its own length). */
export function chunkNaive(q: Rows, k: Rows, v: Rows, d: NaiveDims, o: NaiveOptions, blockSize: number): { out: Float64Array; state: Float64Array } {
  const { BH, H, N, D, Dv } = d;
  const out = new Float64Array(BH * N * Dv);
  const state = new Float64Array(BH * D * Dv);
  for (let bh = 0; bh < BH; bh++) {
    const lam = o.decay[bh % H]!;
    const S = new Float64Array(D * Dv);
    if (o.s0) for (let i = 0; i < D * Dv; i++) S[i] = o.s0[bh * D * Dv + i]!;
    for (let i0 = 0; i0 < N; i0 += blockSize) {
      const b = Math.min(blockSize, N - i0);
      for (let t = 0; t < b; t++) {
        const rt = bh * N + i0 + t;
        // inter-block: (Lambda_q Q_i) S_{i-1}, Lambda_q = lambda^{t+1}
        const f = Math.pow(lam, t + 1);
        for (let c = 0; c < Dv; c++) {
          let acc = 0;
          for (let a = 0; a < D; a++) acc += q[rt * D + a]! * S[a * Dv + c]!;
          out[rt * Dv + c] = f * acc;
        }
        // intra-block: ((Q_i K_i^T) . D_B) V_i
        for (let s = 0; s <= t; s++) {
          const rs = bh * N + i0 + s;
          let qk = 0;
          for (let a = 0; a < D; a++) qk += q[rt * D + a]! * k[rs * D + a]!;
          const w = qk * Math.pow(lam, t - s);
          for (let c = 0; c < Dv; c++) out[rt * Dv + c] += w * v[rs * Dv + c]!;
        }
        for (let c = 0; c < Dv; c++) out[rt * Dv + c] *= o.scale;
      }
      // S_i = lambda^b S_{i-1} + (Lambda_k K_i)^T V_i, Lambda_k = lambda^{b-1-s}
      const lb = Math.pow(lam, b);
      for (let x = 0; x < D * Dv; x++) S[x] *= lb;
      for (let s = 0; s < b; s++) {
        const rs = bh * N + i0 + s;
        const f = Math.pow(lam, b - 1 - s);
        for (let a = 0; a < D; a++) {
          const ka = f * k[rs * D + a]!;
          for (let c = 0; c < Dv; c++) S[a * Dv + c] += ka * v[rs * Dv + c]!;
        }
      }
    }
    state.set(S, bh * D * Dv);
  }
  return { out, state };
}

/** SRMSNorm (TransNormerLLM's simple RMS norm, no weight) over the last dim of rows of width W. */
export function srmsNormNaive(x: Rows, W: number, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / W; r++) {
    let ss = 0;
    for (let c = 0; c < W; c++) ss += x[r * W + c]! ** 2;
    const inv = 1 / Math.sqrt(ss / W + eps);
    for (let c = 0; c < W; c++) out[r * W + c] = x[r * W + c]! * inv;
  }
  return out;
}

/**
 * Gradients of L = sum(G . O) for the masked parallel form (no initial state):
 * with A = (Q K^T) . D, dV = scale A^T G, dQ = scale ((G V^T) . D) K, dK = scale ((G V^T) . D)^T Q.
 */
export function gradNaive(q: Rows, k: Rows, v: Rows, g: Rows, d: NaiveDims, o: NaiveOptions): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { BH, H, N, D, Dv } = d;
  const dq = new Float64Array(BH * N * D);
  const dk = new Float64Array(BH * N * D);
  const dv = new Float64Array(BH * N * Dv);
  for (let bh = 0; bh < BH; bh++) {
    const lam = o.decay[bh % H]!;
    for (let t = 0; t < N; t++) {
      const rt = bh * N + t;
      for (let s = 0; s <= t; s++) {
        const rs = bh * N + s;
        const dec = o.scale * Math.pow(lam, t - s);
        let qk = 0;
        for (let a = 0; a < D; a++) qk += q[rt * D + a]! * k[rs * D + a]!;
        let gv = 0;
        for (let c = 0; c < Dv; c++) gv += g[rt * Dv + c]! * v[rs * Dv + c]!;
        for (let c = 0; c < Dv; c++) dv[rs * Dv + c] += dec * qk * g[rt * Dv + c]!;
        for (let a = 0; a < D; a++) {
          dq[rt * D + a] += dec * gv * k[rs * D + a]!;
          dk[rs * D + a] += dec * gv * q[rt * D + a]!;
        }
      }
    }
  }
  return { dq, dk, dv };
}
