/**
 * Float64 reference for L6 RAT (chunked recurrence, attention across chunks), written token by
 * token with no shared code with the tensor version. Per head h with gate a = decay[h] in [0, 1):
 * inside a chunk of length L the keys and values run the recurrence
 *   x~_t = x_t                               (first token of a chunk: the state restarts)
 *   x~_t = a x~_{t-1} + (1 - a) x_t          (otherwise)
 * and the query at t takes softmax attention over the end-of-chunk states (k~, v~) of every earlier
 * chunk plus its own chunk's running state (k~_t, v~_t). L = 1: plain causal softmax attention;
 * L >= N: one chunk, so the output is v~_t, the gated RNN. Rows are [BH, N, D] / [BH, N, Dv].
 */
export interface RatDims {
  BH: number;
  /** Heads (decay is per head; row bh is head bh % H). */
  H: number;
  N: number;
  D: number;
  Dv: number;
}

export interface RatNaiveOptions {
  chunkSize: number;
  /** Gate per head (or one for all), in [0, 1). */
  decay: number | readonly number[];
  scale: number;
}

type Rows = ArrayLike<number>;

/** The within-chunk recurrence of rows [N, W] (one head), float64. */
export function chunkRecurrenceNaive(x: Rows, N: number, W: number, L: number, a: number): Float64Array {
  const out = new Float64Array(N * W);
  for (let t = 0; t < N; t++) {
    const start = t % L === 0;
    for (let c = 0; c < W; c++) out[t * W + c] = start ? x[t * W + c]! : a * out[(t - 1) * W + c]! + (1 - a) * x[t * W + c]!;
  }
  return out;
}

export function ratNaive(q: Rows, k: Rows, v: Rows, d: RatDims, o: RatNaiveOptions): Float64Array {
  const { BH, H, N, D, Dv } = d;
  const L = o.chunkSize;
  const out = new Float64Array(BH * N * Dv);
  for (let bh = 0; bh < BH; bh++) {
    const a = typeof o.decay === 'number' ? o.decay : o.decay[bh % H]!;
    const kt = chunkRecurrenceNaive(Array.from({ length: N * D }, (_, i) => k[bh * N * D + i]!), N, D, L, a);
    const vt = chunkRecurrenceNaive(Array.from({ length: N * Dv }, (_, i) => v[bh * N * Dv + i]!), N, Dv, L, a);
    for (let t = 0; t < N; t++) {
      // Earlier chunks' last tokens, then t itself.
      const keys: number[] = [];
      for (let e = L - 1; e < t - (t % L); e += L) keys.push(e);
      keys.push(t);
      const s = keys.map((j) => {
        let acc = 0;
        for (let c = 0; c < D; c++) acc += q[(bh * N + t) * D + c]! * kt[j * D + c]!;
        return o.scale * acc;
      });
      const m = Math.max(...s);
      const w = s.map((x) => Math.exp(x - m));
      const z = w.reduce((x, y) => x + y, 0);
      for (let c = 0; c < Dv; c++) {
        let acc = 0;
        keys.forEach((j, i) => (acc += w[i]! * vt[j * Dv + c]!));
        out[(bh * N + t) * Dv + c] = acc / z;
      }
    }
  }
  return out;
}

/** Float64 causal softmax attention (what L = 1 must equal). */
export function causalSoftmaxNaive(q: Rows, k: Rows, v: Rows, d: RatDims, scale: number): Float64Array {
  const { BH, N, D, Dv } = d;
  const out = new Float64Array(BH * N * Dv);
  for (let bh = 0; bh < BH; bh++) {
    for (let t = 0; t < N; t++) {
      const s: number[] = [];
      for (let j = 0; j <= t; j++) {
        let acc = 0;
        for (let c = 0; c < D; c++) acc += q[(bh * N + t) * D + c]! * k[(bh * N + j) * D + c]!;
        s.push(scale * acc);
      }
      const m = Math.max(...s);
      const w = s.map((x) => Math.exp(x - m));
      const z = w.reduce((x, y) => x + y, 0);
      for (let c = 0; c < Dv; c++) {
        let acc = 0;
        for (let j = 0; j <= t; j++) acc += w[j]! * v[(bh * N + j) * Dv + c]!;
        out[(bh * N + t) * Dv + c] = acc / z;
      }
    }
  }
  return out;
}

/** Float64 gated RNN h_0 = v_0, h_t = a h_{t-1} + (1 - a) v_t (what L >= N must equal). */
export function gatedRnnNaive(v: Rows, d: RatDims, decay: number | readonly number[]): Float64Array {
  const { BH, H, N, Dv } = d;
  const out = new Float64Array(BH * N * Dv);
  for (let bh = 0; bh < BH; bh++) {
    const a = typeof decay === 'number' ? decay : decay[bh % H]!;
    for (let c = 0; c < Dv; c++) {
      let h = 0;
      for (let t = 0; t < N; t++) {
        h = t === 0 ? v[(bh * N) * Dv + c]! : a * h + (1 - a) * v[(bh * N + t) * Dv + c]!;
        out[(bh * N + t) * Dv + c] = h;
      }
    }
  }
  return out;
}
