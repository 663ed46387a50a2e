/**
 * CPU core of causal linear attention on featurised rows, with a log decay per row:
 *
 *   S_t = exp(a_t) S_{t-1} + k_t^T v_t,   y_t = scale * q_t S_t      (S_{-1} = S0)
 *
 * q, k [BH*N, F], v [BH*N, W], a [BH*N] (log lambda_h + gate), S0 [BH, F, W] or null, all float64.
 * Three algorithms: recurrent (step by step), parallel (quadratic, exp(G_t - G_s) weights) and
 * chunk (Lightning Attention-2 / fla chunk: intra-chunk scores plus the state before the chunk).
 * This is the plain JS float64 form (recurrent and parallel modes, and chunk mode where SIMD is
 * missing); chunk mode on WebAssembly SIMD streams through cpu/linear-stream.ts.
 * Decays inside a chunk are exp of differences of chunk-local cumulative sums, so they never
 * overflow (every exponent is <= 0 for decays <= 1).
 * `linearCoreBackward` gives every gradient from three chunk runs of the same core (forward time
 * for dq, reverse time for dk and dv), plus the gate gradient from
 *   dG_t = q_t . dq_t - k_t . dk_t (+ <dS_fin, S_fin> at t = N-1),  da_t = sum_{t' >= t} dG_t'.
 */

export type LinearMode = 'parallel' | 'recurrent' | 'chunk';

/** Rows and states: float64 on the JS path, float32 on the WebAssembly one. */
export type Arr = Float32Array | Float64Array;

export interface CoreDims {
  BH: number;
  N: number;
  F: number;
  W: number;
}

export interface CoreResult {
  /** [BH*N, W] */
  y: Arr;
  /** [BH, F, W] */
  S: Arr;
}

/**
 * `reverse` (chunk mode): time runs backwards, row N-1-u at run position u; `a` is in run order
 * and y comes back in row order. `vOnes`: v has W - 1 columns, the last one is implicitly 1.
 */
export function linearCore(mode: LinearMode, q: Arr, k: Arr, v: Arr, a: Arr, s0: Arr | null, d: CoreDims, scale: number, C: number, reverse = false, vOnes = false): CoreResult {
  const { BH, N, F, W } = d;
  if (vOnes) return linearCore(mode, q, k, withOnes(v, BH * N, W - 1), a, s0, d, scale, C, reverse);
  if (reverse) {
    const r = linearCore(mode, flipRows(q, BH, N, F), flipRows(k, BH, N, F), flipRows(v, BH, N, W), a, s0, d, scale, C);
    return { y: flipRows(r.y, BH, N, W), S: r.S };
  }
  const y = new Float64Array(BH * N * W);
  const Sall = new Float64Array(BH * F * W);
  const S = new Float64Array(F * W);
  for (let bh = 0; bh < BH; bh++) {
    if (s0) S.set(s0.subarray(bh * F * W, (bh + 1) * F * W));
    else S.fill(0);
    const r0 = bh * N;
    if (mode === 'recurrent') recurrent(q, k, v, a, S, y, r0, N, F, W, scale);
    else if (mode === 'parallel') parallel(q, k, v, a, S, y, r0, N, F, W, scale);
    else chunked(q, k, v, a, S, y, r0, N, F, W, scale, C);
    Sall.set(S, bh * F * W);
  }
  return { y, S: Sall };
}

function recurrent(q: Arr, k: Arr, v: Arr, a: Arr, S: Arr, y: Arr, r0: number, N: number, F: number, W: number, scale: number): void {
  const FW = F * W;
  for (let t = 0; t < N; t++) {
    const r = r0 + t;
    const dec = Math.exp(a[r]!);
    if (dec !== 1) for (let i = 0; i < FW; i++) S[i]! *= dec;
    rank1(S, k, r * F, v, r * W, 1, F, W);
    rowTimesState(q, r * F, scale, S, y, r * W, F, W);
  }
}

function parallel(q: Arr, k: Arr, v: Arr, a: Arr, S: Arr, y: Arr, r0: number, N: number, F: number, W: number, scale: number): void {
  const G = new Float64Array(N);
  for (let t = 0, acc = 0; t < N; t++) G[t] = acc += a[r0 + t]!;
  for (let t = 0; t < N; t++) {
    const rt = r0 + t;
    for (let s = 0; s <= t; s++) {
      const rs = r0 + s;
      const w = dot(q, rt * F, k, rs * F, F) * scale * Math.exp(G[t]! - G[s]!);
      if (w !== 0) axpy(y, rt * W, w, v, rs * W, W);
    }
    rowTimesState(q, rt * F, scale * Math.exp(G[t]!), S, y, rt * W, F, W);
  }
  // Final state in closed form.
  const gN = N > 0 ? G[N - 1]! : 0;
  const dec = Math.exp(gN);
  if (dec !== 1) for (let i = 0; i < F * W; i++) S[i]! *= dec;
  for (let s = 0; s < N; s++) rank1(S, k, (r0 + s) * F, v, (r0 + s) * W, Math.exp(gN - G[s]!), F, W);
}

function chunked(q: Arr, k: Arr, v: Arr, a: Arr, S: Arr, y: Arr, r0: number, N: number, F: number, W: number, scale: number, C: number): void {
  const L = new Float64Array(C);
  for (let t0 = 0; t0 < N; t0 += C) {
    const len = Math.min(C, N - t0);
    // L[i]: log decay from the state before the chunk to row i.
    for (let i = 0, acc = 0; i < len; i++) L[i] = acc += a[r0 + t0 + i]!;
    for (let i = 0; i < len; i++) {
      const ri = r0 + t0 + i;
      const li = L[i]!;
      for (let j = 0; j <= i; j++) {
        const rj = r0 + t0 + j;
        const w = dot(q, ri * F, k, rj * F, F) * scale * Math.exp(li - L[j]!);
        if (w !== 0) axpy(y, ri * W, w, v, rj * W, W);
      }
      rowTimesState(q, ri * F, scale * Math.exp(li), S, y, ri * W, F, W);
    }
    const last = L[len - 1]!;
    const dec = Math.exp(last);
    if (dec !== 1) for (let i = 0; i < F * W; i++) S[i]! *= dec;
    for (let j = 0; j < len; j++) {
      const rj = r0 + t0 + j;
      rank1(S, k, rj * F, v, rj * W, Math.exp(last - L[j]!), F, W);
    }
  }
}

function dot(x: Arr, xo: number, z: Arr, zo: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    s0 += x[xo + i]! * z[zo + i]!;
    s1 += x[xo + i + 1]! * z[zo + i + 1]!;
  }
  if (i < n) s0 += x[xo + i]! * z[zo + i]!;
  return s0 + s1;
}

function axpy(y: Arr, yo: number, w: number, x: Arr, xo: number, n: number): void {
  for (let i = 0; i < n; i++) y[yo + i]! += w * x[xo + i]!;
}

/** S += c k_r^T v_r */
function rank1(S: Arr, k: Arr, ko: number, v: Arr, vo: number, c: number, F: number, W: number): void {
  for (let f = 0; f < F; f++) {
    const kf = k[ko + f]! * c;
    if (kf !== 0) axpy(S, f * W, kf, v, vo, W);
  }
}

/** y_r += c q_r S */
function rowTimesState(q: Arr, qo: number, c: number, S: Arr, y: Arr, yo: number, F: number, W: number): void {
  for (let f = 0; f < F; f++) {
    const qf = q[qo + f]! * c;
    if (qf !== 0) axpy(y, yo, qf, S, f * W, W);
  }
}

/** [x, 1]: rows of `width` columns with a column of ones appended. */
export function withOnes(x: Arr, rows: number, width: number): Arr {
  const o = like(x, rows * (width + 1));
  for (let r = 0; r < rows; r++) {
    o.set(x.subarray(r * width, (r + 1) * width), r * (width + 1));
    o[r * (width + 1) + width] = 1;
  }
  return o;
}

/** The first `w` of every `width` columns. */
function narrowRows(x: Arr, rows: number, width: number, w: number): Arr {
  const o = like(x, rows * w);
  for (let r = 0; r < rows; r++) o.set(x.subarray(r * width, r * width + w), r * w);
  return o;
}

/** Rows in reverse time within each of the BH sequences. */
const like = (x: Arr, n: number): Arr => (x instanceof Float32Array ? new Float32Array(n) : new Float64Array(n));

export function flipRows(x: Arr, BH: number, N: number, width: number): Arr {
  const o = like(x, x.length);
  for (let bh = 0; bh < BH; bh++) {
    for (let t = 0; t < N; t++) o.set(x.subarray((bh * N + t) * width, (bh * N + t + 1) * width), (bh * N + N - 1 - t) * width);
  }
  return o;
}

/** [BH, R, Cc] -> [BH, Cc, R] */
export function transposeStates(x: Arr, BH: number, R: number, Cc: number): Arr {
  const o = like(x, x.length);
  for (let bh = 0; bh < BH; bh++) {
    const b = bh * R * Cc;
    for (let r = 0; r < R; r++) for (let c = 0; c < Cc; c++) o[b + c * R + r] = x[b + r * Cc + c]!;
  }
  return o;
}

/**
 * Log decays for a reverse-time run, in run order: position u (original row N-1-u) steps with
 * a_{N-u}, the decay between original rows N-u-1 and N-u; position 0 has none.
 */
function reverseDecays(a: Arr, BH: number, N: number): Arr {
  const o = like(a, a.length);
  for (let bh = 0; bh < BH; bh++) for (let u = 1; u < N; u++) o[bh * N + u] = a[bh * N + N - u]!;
  return o;
}

export interface CoreGrads {
  dq: Arr;
  dk: Arr;
  /** [BH*N, W], or [BH*N, dvCols] when that option applied. */
  dv: Arr;
  /** [BH, F, W] (zeros when needDS0 is false). */
  dS0: Float64Array;
  /** [BH*N]: gradient of the log decays a. */
  da: Float64Array;
}

/**
 * Gradients of <dy, y> + <dS, S_final> for the core above. `S` is the forward's final state
 * (only read for the gate gradient at the last row).
 */
export function linearCoreBackward(q: Arr, k: Arr, v: Arr, a: Arr, s0: Arr | null, S: Arr, dy: Arr, dS: Arr | null, d: CoreDims, scale: number, C: number, opts: { dvCols?: number; needDS0?: boolean } = {}): CoreGrads {
  const { BH, N, F, W } = d;
  // dv of the first dvCols columns only (normalised attention drops the ones column's): the dv run
  // then carries fewer columns, unless dS0 (which needs them all) is wanted.
  const Wd = opts.needDS0 === false && opts.dvCols !== undefined ? Math.min(opts.dvCols, W) : W;
  // dq_t = scale (sum_{s<=t} w_ts (dy_t . v_s) k_s + e^{G_t} dy_t S0^T): the core with (dy, v, k, S0^T).
  const dq = linearCore('chunk', dy, v, k, a, s0 ? transposeStates(s0, BH, F, W) : null, { BH, N, F: W, W: F }, scale, C).y;
  // dk and dv look forward in time: the core in reverse time, with dS_fin / scale as its initial state.
  const ar = reverseDecays(a, BH, N);
  let init: Float64Array | null = null;
  if (dS) {
    init = new Float64Array(dS.length);
    for (let i = 0; i < dS.length; i++) init[i] = dS[i]! / scale;
  }
  const dk = linearCore('chunk', v, dy, q, ar, init ? transposeStates(init, BH, F, W) : null, { BH, N, F: W, W: F }, scale, C, true).y;
  const dyd = Wd === W ? dy : narrowRows(dy, BH * N, W, Wd);
  const rv = linearCore('chunk', k, q, dyd, ar, init && Wd === W ? init : init ? narrowRows(init, BH * F, W, Wd) : null, { BH, N, F, W: Wd }, scale, C, true);
  const dv = rv.y;
  // dS0 = e^{a_0} scale S_final(reverse run) (that run starts one step after row 0's decay).
  const dS0 = new Float64Array(BH * F * W);
  if (N === 0) {
    if (dS) dS0.set(dS);
  } else if (Wd === W) {
    for (let bh = 0; bh < BH; bh++) {
      const c = Math.exp(a[bh * N]!) * scale;
      for (let i = 0; i < F * W; i++) dS0[bh * F * W + i] = c * rv.S[bh * F * W + i]!;
    }
  }
  const da = new Float64Array(BH * N);
  for (let bh = 0; bh < BH; bh++) {
    let acc = 0;
    if (dS && N > 0) for (let i = 0; i < F * W; i++) acc += dS[bh * F * W + i]! * S[bh * F * W + i]!;
    for (let t = N - 1; t >= 0; t--) {
      const r = bh * N + t;
      acc += dot(q, r * F, dq, r * F, F) - dot(k, r * F, dk, r * F, F);
      da[r] = acc;
    }
  }
  return { dq, dk, dv, dS0, da };
}
