/**
 * Float64 references for L4 (Attention as an RNN). For one fixed query q and keys k_1..k_N,
 * s_i = scale q . k_i and o_t = sum_{i<=t} e^{s_i} v_i / sum_{i<=t} e^{s_i}:
 *   sequentialNaive   the many-to-one RNN run token by token with state (m, u, w)
 *   maskedSoftmaxNaive the same rows as masked softmax attention (row t sees keys i <= t)
 * Rows are [BH, N, D] / [BH, N, Dv]; q is [BH, D].
 */
export interface AarenDims {
  BH: number;
  N: number;
  D: number;
  Dv: number;
}

type Rows = ArrayLike<number>;

function scores(q: Rows, k: Rows, d: AarenDims, bh: number, scale: number): Float64Array {
  const s = new Float64Array(d.N);
  for (let i = 0; i < d.N; i++) {
    let acc = 0;
    for (let a = 0; a < d.D; a++) acc += q[bh * d.D + a]! * k[(bh * d.N + i) * d.D + a]!;
    s[i] = scale * acc;
  }
  return s;
}

export function sequentialNaive(q: Rows, k: Rows, v: Rows, d: AarenDims, scale: number): Float64Array {
  const { BH, N, Dv } = d;
  const out = new Float64Array(BH * N * Dv);
  for (let bh = 0; bh < BH; bh++) {
    const s = scores(q, k, d, bh, scale);
    let m = -Infinity;
    let u = 0;
    const w = new Float64Array(Dv);
    for (let t = 0; t < N; t++) {
      const mNew = Math.max(m, s[t]!);
      const a = u === 0 ? 0 : Math.exp(m - mNew);
      const b = Math.exp(s[t]! - mNew);
      u = u * a + b;
      for (let c = 0; c < Dv; c++) {
        w[c] = w[c]! * a + b * v[(bh * N + t) * Dv + c]!;
        out[(bh * N + t) * Dv + c] = w[c]! / u;
      }
      m = mNew;
    }
  }
  return out;
}

export function maskedSoftmaxNaive(q: Rows, k: Rows, v: Rows, d: AarenDims, scale: number): Float64Array {
  const { BH, N, Dv } = d;
  const out = new Float64Array(BH * N * Dv);
  for (let bh = 0; bh < BH; bh++) {
    const s = scores(q, k, d, bh, scale);
    for (let t = 0; t < N; t++) {
      let mx = -Infinity;
      for (let i = 0; i <= t; i++) mx = Math.max(mx, s[i]!);
      let z = 0;
      for (let i = 0; i <= t; i++) z += Math.exp(s[i]! - mx);
      for (let i = 0; i <= t; i++) {
        const p = Math.exp(s[i]! - mx) / z;
        for (let c = 0; c < Dv; c++) out[(bh * N + t) * Dv + c] += p * v[(bh * N + i) * Dv + c]!;
      }
    }
  }
  return out;
}
