/**
 * Float64 references for L2 (BASED). Rows are [BH, N, D] / [BH, N, Dv].
 *   taylorLinearNaive   o_t = sum_{s<=t} f(x_ts) v_s / sum_{s<=t} f(x_ts), f(x) = 1 + x + x^2/2,
 *                       x_ts = scale q_t[:d'] . k_s[:d'] (the 2nd-order Taylor kernel of exp,
 *                       written as the scalar kernel, not through a feature map)
 *   windowSoftmaxNaive  softmax attention of q_t over keys t - W < s <= t
 */
export interface BasedDims {
  BH: number;
  N: number;
  D: number;
  Dv: number;
}

type Rows = ArrayLike<number>;

function dot(a: Rows, ai: number, b: Rows, bi: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[ai + i]! * b[bi + i]!;
  return s;
}

export function taylorLinearNaive(q: Rows, k: Rows, v: Rows, d: BasedDims, featureDim: number, scale: number): Float64Array {
  const { BH, N, D, Dv } = d;
  const out = new Float64Array(BH * N * Dv);
  for (let bh = 0; bh < BH; bh++) {
    for (let t = 0; t < N; t++) {
      const rt = bh * N + t;
      let z = 0;
      for (let s = 0; s <= t; s++) {
        const rs = bh * N + s;
        const x = scale * dot(q, rt * D, k, rs * D, featureDim);
        const f = 1 + x + (x * x) / 2;
        z += f;
        for (let c = 0; c < Dv; c++) out[rt * Dv + c] += f * v[rs * Dv + c]!;
      }
      for (let c = 0; c < Dv; c++) out[rt * Dv + c] /= z;
    }
  }
  return out;
}

export function windowSoftmaxNaive(q: Rows, k: Rows, v: Rows, d: BasedDims, window: number, scale: number): Float64Array {
  const { BH, N, D, Dv } = d;
  const out = new Float64Array(BH * N * Dv);
  for (let bh = 0; bh < BH; bh++) {
    for (let t = 0; t < N; t++) {
      const rt = bh * N + t;
      const s0 = Math.max(0, t - window + 1);
      const sc: number[] = [];
      for (let s = s0; s <= t; s++) sc.push(scale * dot(q, rt * D, k, (bh * N + s) * D, D));
      const m = Math.max(...sc);
      const e = sc.map((x) => Math.exp(x - m));
      const z = e.reduce((a, b) => a + b, 0);
      for (let s = s0; s <= t; s++) {
        const p = e[s - s0]! / z;
        for (let c = 0; c < Dv; c++) out[rt * Dv + c] += p * v[(bh * N + s) * Dv + c]!;
      }
    }
  }
  return out;
}
