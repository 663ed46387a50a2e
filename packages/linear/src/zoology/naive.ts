/**
 * Float64 reference for the H3/Hyena-lite gated convolution (Zoology's gated-convolution baseline),
 * written as its recurrence token by token. Per head, channel c of D:
 *   u_t = k_{t-1} * v_t             (H3's shift SSM: a one-tap short convolution of k, k_{-1} = 0)
 *   s_t = l_c s_{t-1} + (1 - l_c) u_t   (the long convolution, kernel (1 - l_c) l_c^tau)
 *   y_t = q_t * s_t                 (output gate)
 * All products elementwise (no outer product: a gated convolution, not linear attention).
 * Rows are [BH, N, D].
 */
export interface GatedConvDims {
  BH: number;
  N: number;
  D: number;
}

type Rows = ArrayLike<number>;

export function gatedConvNaive(q: Rows, k: Rows, v: Rows, d: GatedConvDims, timescales: readonly number[], shift = true): Float64Array {
  const { BH, N, D } = d;
  const out = new Float64Array(BH * N * D);
  for (let bh = 0; bh < BH; bh++) {
    for (let c = 0; c < D; c++) {
      const l = 1 - 1 / timescales[c]!;
      let s = 0;
      for (let t = 0; t < N; t++) {
        const kk = shift ? (t === 0 ? 0 : k[(bh * N + t - 1) * D + c]!) : k[(bh * N + t) * D + c]!;
        s = l * s + (1 - l) * kk * v[(bh * N + t) * D + c]!;
        out[(bh * N + t) * D + c] = q[(bh * N + t) * D + c]! * s;
      }
    }
  }
  return out;
}
