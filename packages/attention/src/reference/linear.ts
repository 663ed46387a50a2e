/**
 * Float64 reference for causal linear attention (recurrent form) and its gradient.
 *
 *   phi_q = phi(q_t), phi_k = phi(k_t)                     feature map
 *   S_t = a_t * S_{t-1} + phi_k^T [v_t, 1?]                 state [F, Dv(+1)], S_{-1} = initialState
 *   a_t = lambda_h * exp(g_t)                                decay per head times the per-token gate (GLA)
 *   y_t = scale * phi_q S_t                                  (scale = 1 for taylor2, applied inside phi)
 *   o_t = y_t[:Dv]                       (normalize: o_t = y_t[:Dv] / y_t[Dv], 0 where that is 0)
 *
 * With normalize the state carries the normaliser z_t = sum lambda^{t-s} phi_k as its last column.
 */

export type FeatureMap = 'identity' | 'elu1' | 'relu' | 'taylor2';

export interface LinearDims {
  B: number;
  H: number;
  N: number;
  /** Query/key head dim. */
  D: number;
  /** Value head dim (defaults to D). */
  Dv?: number;
}

export interface LinearRefOptions {
  featureMap?: FeatureMap;
  /** Decay lambda in (0, 1]: a number or one per head. Default 1. */
  decay?: number | ArrayLike<number>;
  normalize?: boolean;
  /** Default 1/sqrt(D). For taylor2 it scales q.k inside phi: phi(q).phi(k) = 1 + s + s^2/2, s = scale q.k. */
  scale?: number;
  /** [B, H, F, Dv(+1)] */
  initialState?: ArrayLike<number> | null;
  /** [B, H, N] log decay per token (fla's simple_gla g): the step into t multiplies S by exp(g_t). */
  gate?: ArrayLike<number> | null;
}

export function featureDim(map: FeatureMap, D: number): number {
  return map === 'taylor2' ? 1 + D + D * D : D;
}

/** phi(x) for one row; `scale` only matters for taylor2. */
export function featurize(map: FeatureMap, x: ArrayLike<number>, off: number, D: number, scale: number): Float64Array {
  const F = featureDim(map, D);
  const out = new Float64Array(F);
  if (map === 'taylor2') {
    const a = Math.sqrt(scale);
    const c = scale / Math.SQRT2;
    out[0] = 1;
    for (let i = 0; i < D; i++) out[1 + i] = a * x[off + i]!;
    for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) out[1 + D + i * D + j] = c * x[off + i]! * x[off + j]!;
    return out;
  }
  for (let i = 0; i < D; i++) {
    const z = x[off + i]!;
    out[i] = map === 'identity' ? z : map === 'relu' ? Math.max(z, 0) : z > 0 ? z + 1 : Math.exp(z);
  }
  return out;
}

/** Chain rule through phi: dx from dphi. */
export function featurizeBackward(map: FeatureMap, x: ArrayLike<number>, off: number, D: number, scale: number, dphi: Float64Array): Float64Array {
  const dx = new Float64Array(D);
  if (map === 'taylor2') {
    const a = Math.sqrt(scale);
    const c = scale / Math.SQRT2;
    for (let m = 0; m < D; m++) {
      let acc = a * dphi[1 + m]!;
      for (let j = 0; j < D; j++) acc += c * (dphi[1 + D + m * D + j]! + dphi[1 + D + j * D + m]!) * x[off + j]!;
      dx[m] = acc;
    }
    return dx;
  }
  for (let i = 0; i < D; i++) {
    const z = x[off + i]!;
    const g = map === 'identity' ? 1 : map === 'relu' ? (z > 0 ? 1 : 0) : z > 0 ? 1 : Math.exp(z);
    dx[i] = g * dphi[i]!;
  }
  return dx;
}

function decayOf(opts: LinearRefOptions, h: number): number {
  const d = opts.decay ?? 1;
  return typeof d === 'number' ? d : d[h]!;
}

function stepDecay(lam: number, opts: LinearRefOptions, row: number): number {
  return opts.gate ? lam * Math.exp(opts.gate[row]!) : lam;
}

export interface LinearRefResult {
  /** [B, H, N, Dv] */
  out: Float64Array;
  /** [B, H, F, Dv(+1)] */
  finalState: Float64Array;
}

interface Run {
  out: Float64Array;
  finalState: Float64Array;
  /** States after each step, per (b, h): [N][F * W] (kept for backward). */
  states: Float64Array[][];
  /** Unnormalised outputs y_t: [B*H*N, W] */
  y: Float64Array;
}

function run(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dims: LinearDims, opts: LinearRefOptions, keep: boolean): Run {
  const { B, H, N, D } = dims;
  const Dv = dims.Dv ?? D;
  const map = opts.featureMap ?? 'identity';
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const outScale = map === 'taylor2' ? 1 : scale;
  const F = featureDim(map, D);
  const W = Dv + (opts.normalize ? 1 : 0);
  const out = new Float64Array(B * H * N * Dv);
  const y = new Float64Array(B * H * N * W);
  const finalState = new Float64Array(B * H * F * W);
  const states: Float64Array[][] = [];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const lam = decayOf(opts, h);
      const S = new Float64Array(F * W);
      if (opts.initialState) for (let i = 0; i < F * W; i++) S[i] = opts.initialState[bh * F * W + i]!;
      const hist: Float64Array[] = [];
      for (let t = 0; t < N; t++) {
        const r = bh * N + t;
        const pk = featurize(map, k, r * D, D, scale);
        const pq = featurize(map, q, r * D, D, scale);
        const at = stepDecay(lam, opts, r);
        for (let f = 0; f < F; f++) {
          for (let c = 0; c < W; c++) {
            const vc = c < Dv ? v[r * Dv + c]! : 1;
            S[f * W + c] = at * S[f * W + c]! + pk[f]! * vc;
          }
        }
        if (keep) hist.push(S.slice());
        for (let c = 0; c < W; c++) {
          let acc = 0;
          for (let f = 0; f < F; f++) acc += pq[f]! * S[f * W + c]!;
          y[r * W + c] = outScale * acc;
        }
        const den = opts.normalize ? y[r * W + Dv]! : 1;
        for (let c = 0; c < Dv; c++) out[r * Dv + c] = den === 0 ? 0 : y[r * W + c]! / den;
      }
      finalState.set(S, bh * F * W);
      states.push(hist);
    }
  }
  return { out, finalState, states, y };
}

export function linearAttentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dims: LinearDims, opts: LinearRefOptions = {}): LinearRefResult {
  const r = run(q, k, v, dims, opts, false);
  return { out: r.out, finalState: r.finalState };
}

export interface LinearRefGrads {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  dInitialState: Float64Array;
  /** [B, H, N]: zeros without a gate. */
  dGate: Float64Array;
}

/** Gradients of L = <dOut, out> + <dFinalState, finalState>. */
export function linearAttentionRefBackward(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dOut: ArrayLike<number>, dFinalState: ArrayLike<number> | null,
  dims: LinearDims, opts: LinearRefOptions = {},
): LinearRefGrads {
  const { B, H, N, D } = dims;
  const Dv = dims.Dv ?? D;
  const map = opts.featureMap ?? 'identity';
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const outScale = map === 'taylor2' ? 1 : scale;
  const F = featureDim(map, D);
  const W = Dv + (opts.normalize ? 1 : 0);
  const fw = run(q, k, v, dims, opts, true);
  const dq = new Float64Array(B * H * N * D);
  const dk = new Float64Array(B * H * N * D);
  const dv = new Float64Array(B * H * N * Dv);
  const dInitialState = new Float64Array(B * H * F * W);
  const dGate = new Float64Array(B * H * N);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const lam = decayOf(opts, h);
      const hist = fw.states[bh]!;
      const s0 = opts.initialState ? Float64Array.from({ length: F * W }, (_, i) => opts.initialState![bh * F * W + i]!) : new Float64Array(F * W);
      const dS = new Float64Array(F * W);
      if (dFinalState) for (let i = 0; i < F * W; i++) dS[i] = dFinalState[bh * F * W + i]!;
      const dy = new Float64Array(W);
      for (let t = N - 1; t >= 0; t--) {
        const r = bh * N + t;
        // dy from dOut (through the normalisation).
        if (opts.normalize) {
          const den = fw.y[r * W + Dv]!;
          dy.fill(0);
          if (den !== 0) {
            let dot = 0;
            for (let c = 0; c < Dv; c++) {
              dy[c] = dOut[r * Dv + c]! / den;
              dot += dOut[r * Dv + c]! * fw.out[r * Dv + c]!;
            }
            dy[Dv] = -dot / den;
          }
        } else {
          for (let c = 0; c < Dv; c++) dy[c] = dOut[r * Dv + c]!;
        }
        const S = hist[t]!;
        const pq = featurize(map, q, r * D, D, scale);
        const pk = featurize(map, k, r * D, D, scale);
        // y_t = outScale * pq S_t
        const dpq = new Float64Array(F);
        for (let f = 0; f < F; f++) {
          let acc = 0;
          for (let c = 0; c < W; c++) {
            acc += S[f * W + c]! * dy[c]!;
            dS[f * W + c]! += outScale * pq[f]! * dy[c]!;
          }
          dpq[f] = outScale * acc;
        }
        // S_t = lam S_{t-1} + pk^T v'
        const dpk = new Float64Array(F);
        for (let f = 0; f < F; f++) {
          let acc = 0;
          for (let c = 0; c < W; c++) {
            const vc = c < Dv ? v[r * Dv + c]! : 1;
            acc += dS[f * W + c]! * vc;
            if (c < Dv) dv[r * Dv + c]! += dS[f * W + c]! * pk[f]!;
          }
          dpk[f] = acc;
        }
        dq.set(featurizeBackward(map, q, r * D, D, scale, dpq), r * D);
        dk.set(featurizeBackward(map, k, r * D, D, scale, dpk), r * D);
        // S_t = a_t S_{t-1} + ...: d g_t = a_t <dS_t, S_{t-1}>, then dS_{t-1} = a_t dS_t.
        const at = stepDecay(lam, opts, r);
        const prev = t > 0 ? hist[t - 1]! : s0;
        let dg = 0;
        for (let i = 0; i < F * W; i++) dg += dS[i]! * prev[i]!;
        dGate[r] = at * dg;
        for (let i = 0; i < F * W; i++) dS[i]! *= at;
      }
      dInitialState.set(dS, bh * F * W);
    }
  }
  return { dq, dk, dv, dInitialState, dGate };
}

/** Parallel (masked, decayed QK^T V) form in float64, to check the algebra of the modes. */
export function linearAttentionParallelRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dims: LinearDims, opts: LinearRefOptions = {}): Float64Array {
  const { B, H, N, D } = dims;
  const Dv = dims.Dv ?? D;
  const map = opts.featureMap ?? 'identity';
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const outScale = map === 'taylor2' ? 1 : scale;
  const F = featureDim(map, D);
  const W = Dv + (opts.normalize ? 1 : 0);
  const out = new Float64Array(B * H * N * Dv);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const lam = decayOf(opts, h);
      const pq: Float64Array[] = [];
      const pk: Float64Array[] = [];
      for (let t = 0; t < N; t++) {
        pq.push(featurize(map, q, (bh * N + t) * D, D, scale));
        pk.push(featurize(map, k, (bh * N + t) * D, D, scale));
      }
      // Cumulative log decay: the product of a_{s+1..t} is exp(G_t - G_s).
      const G = new Float64Array(N);
      for (let t = 0, acc = 0; t < N; t++) G[t] = acc += Math.log(stepDecay(lam, opts, bh * N + t));
      for (let t = 0; t < N; t++) {
        const y = new Float64Array(W);
        for (let s = 0; s <= t; s++) {
          let a = 0;
          for (let f = 0; f < F; f++) a += pq[t]![f]! * pk[s]![f]!;
          a *= outScale * Math.exp(G[t]! - G[s]!);
          for (let c = 0; c < W; c++) y[c]! += a * (c < Dv ? v[(bh * N + s) * Dv + c]! : 1);
        }
        if (opts.initialState) {
          const l = Math.exp(G[t]!);
          for (let c = 0; c < W; c++) {
            let acc = 0;
            for (let f = 0; f < F; f++) acc += pq[t]![f]! * opts.initialState[(bh * F + f) * W + c]!;
            y[c]! += outScale * l * acc;
          }
        }
        const den = opts.normalize ? y[Dv]! : 1;
        for (let c = 0; c < Dv; c++) out[(bh * N + t) * Dv + c] = den === 0 ? 0 : y[c]! / den;
      }
    }
  }
  return out;
}

/**
 * Delta rule (DeltaNet; with a gate, Gated DeltaNet) in float64, step by step:
 *   a_t = lambda_h exp(g_t),  S_t = a_t S_{t-1} + beta_t phi(k_t) (v_t - a_t S_{t-1}^T phi(k_t))^T,
 *   o_t = scale phi(q_t) S_t  (scale = 1 for taylor2).
 * `beta` [B, H, N]; no normaliser. Returns out [B, H, N, Dv] and the final state [B, H, F, Dv].
 */
export function deltaRuleRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, beta: ArrayLike<number>, dims: LinearDims, opts: LinearRefOptions = {}): LinearRefResult {
  const { B, H, N, D } = dims;
  const Dv = dims.Dv ?? D;
  const map = opts.featureMap ?? 'identity';
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const outScale = map === 'taylor2' ? 1 : scale;
  const F = featureDim(map, D);
  const out = new Float64Array(B * H * N * Dv);
  const finalState = new Float64Array(B * H * F * Dv);
  for (let bh = 0; bh < B * H; bh++) {
    const lam = decayOf(opts, bh % H);
    const S = new Float64Array(F * Dv);
    if (opts.initialState) for (let i = 0; i < F * Dv; i++) S[i] = opts.initialState[bh * F * Dv + i]!;
    for (let t = 0; t < N; t++) {
      const r = bh * N + t;
      const a = stepDecay(lam, opts, r);
      const pk = featurize(map, k, r * D, D, scale);
      const pq = featurize(map, q, r * D, D, scale);
      const u = new Float64Array(Dv);
      for (let c = 0; c < Dv; c++) {
        let proj = 0;
        for (let f = 0; f < F; f++) proj += pk[f]! * S[f * Dv + c]!;
        u[c] = beta[r]! * (v[r * Dv + c]! - a * proj);
      }
      for (let f = 0; f < F; f++) for (let c = 0; c < Dv; c++) S[f * Dv + c] = a * S[f * Dv + c]! + pk[f]! * u[c]!;
      for (let c = 0; c < Dv; c++) {
        let acc = 0;
        for (let f = 0; f < F; f++) acc += pq[f]! * S[f * Dv + c]!;
        out[r * Dv + c] = outScale * acc;
      }
    }
    finalState.set(S, bh * F * Dv);
  }
  return { out, finalState };
}
