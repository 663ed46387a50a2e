/**
 * Float64 references for test-time memories (Miras / Titans), one token at a time, the ground
 * truth of the tests. Per (batch, head), for t = 1..N:
 *
 *   g_t   = grad of l(M; k_t, v_t) at M_{t-1} ('previous') or at (1 - alpha_t) M_{t-1} ('retained')
 *   Mom_t = eta_t Mom_{t-1} - theta_t g_t                    (momentum "surprise", Titans; eta = 0: plain step)
 *   M_t   = (1 - alpha_t) M_{t-1} + Mom_t                    (retention gate alpha_t)
 *   y_t   = M_t(scale q_t)
 *
 * Attentional bias l: 'dot' = -<M(k), v> (Hebbian), 'l2' = 1/2 |M(k) - v|^2 (delta rule).
 * Memories: 'linear' M(x) = x S (S: [Dk, Dv], fla's state layout), 'mlp' M(x) = act(x W1) W2
 * (W1: [Dk, Dh], W2: [Dh, Dv]).
 */

export type Bias = 'dot' | 'l2';
export type MemoryKind = 'linear' | 'mlp';
export type Activation = 'silu' | 'tanh';
export type GradAt = 'previous' | 'retained';

export interface NaiveDims {
  B: number;
  H: number;
  N: number;
  Dk: number;
  Dv: number;
}

/** A gate: one number, one per head (length H) or one per token (length B*H*N, [B, H, N] order). */
export type NaiveGate = number | ArrayLike<number>;

export interface NaiveOptions {
  memory: MemoryKind;
  bias: Bias;
  /** theta_t, the inner learning rate. */
  lr: NaiveGate;
  /** alpha_t in [0, 1): the fraction of memory forgotten per token. Default 0. */
  retention?: NaiveGate;
  /** eta_t: momentum of the update. Default 0 (no momentum state). */
  momentum?: NaiveGate;
  gradAt?: GradAt;
  scale?: number;
  /** MLP hidden width. */
  hidden?: number;
  activation?: Activation;
  /**
   * Initial memory per (b, h), flattened: linear S [Dk*Dv]; MLP W1 [Dk*Dh] then W2 [Dh*Dv]; with
   * momentum followed by the momentum of the same size. Length B*H*P. Default zeros.
   */
  s0?: ArrayLike<number>;
}

export interface NaiveResult {
  /** [B, H, N, Dv] */
  out: Float64Array;
  /** [B, H, P] the final memory (and momentum), the layout of s0. */
  state: Float64Array;
}

/** The value of a gate at (b, h, t). */
export function gateAt(g: NaiveGate | undefined, d: NaiveDims, b: number, h: number, t: number, dflt: number): number {
  if (g === undefined) return dflt;
  if (typeof g === 'number') return g;
  if (g.length === d.B * d.H * d.N) return g[(b * d.H + h) * d.N + t]!;
  if (g.length === d.H) return g[h]!;
  throw new Error(`gate has ${g.length} values: give one, one per head (${d.H}) or one per token (${d.B * d.H * d.N})`);
}

/** Parameter count of one head's memory (without momentum). */
export function memorySize(memory: MemoryKind, Dk: number, Dv: number, hidden = 0): number {
  return memory === 'linear' ? Dk * Dv : Dk * hidden + hidden * Dv;
}

function act(a: Activation, x: number): number {
  if (a === 'tanh') return Math.tanh(x);
  return x / (1 + Math.exp(-x));
}

function dact(a: Activation, x: number): number {
  if (a === 'tanh') {
    const t = Math.tanh(x);
    return 1 - t * t;
  }
  const s = 1 / (1 + Math.exp(-x));
  return s * (1 + x * (1 - s));
}

/** y = M(x) for one head's parameters p (layout of NaiveOptions.s0, memory part). */
export function memoryRead(memory: MemoryKind, p: ArrayLike<number>, x: ArrayLike<number>, Dk: number, Dv: number, hidden = 0, activation: Activation = 'silu'): Float64Array {
  const y = new Float64Array(Dv);
  if (memory === 'linear') {
    for (let i = 0; i < Dk; i++) for (let j = 0; j < Dv; j++) y[j] += x[i]! * p[i * Dv + j]!;
    return y;
  }
  const o2 = Dk * hidden;
  for (let u = 0; u < hidden; u++) {
    let h = 0;
    for (let i = 0; i < Dk; i++) h += x[i]! * p[i * hidden + u]!;
    const a = act(activation, h);
    for (let j = 0; j < Dv; j++) y[j] += a * p[o2 + u * Dv + j]!;
  }
  return y;
}

/** The inner loss l(M; k, v) of one head. */
export function innerLoss(memory: MemoryKind, bias: Bias, p: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, Dk: number, Dv: number, hidden = 0, activation: Activation = 'silu'): number {
  const y = memoryRead(memory, p, k, Dk, Dv, hidden, activation);
  let l = 0;
  for (let j = 0; j < Dv; j++) l += bias === 'dot' ? -y[j]! * v[j]! : 0.5 * (y[j]! - v[j]!) ** 2;
  return l;
}

/** The analytic gradient of innerLoss with respect to p (the memory's parameters). */
export function innerGrad(memory: MemoryKind, bias: Bias, p: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, Dk: number, Dv: number, hidden = 0, activation: Activation = 'silu'): Float64Array {
  const g = new Float64Array(memorySize(memory, Dk, Dv, hidden));
  const y = memoryRead(memory, p, k, Dk, Dv, hidden, activation);
  const e = new Float64Array(Dv); // dl/dy
  for (let j = 0; j < Dv; j++) e[j] = bias === 'dot' ? -v[j]! : y[j]! - v[j]!;
  if (memory === 'linear') {
    for (let i = 0; i < Dk; i++) for (let j = 0; j < Dv; j++) g[i * Dv + j] = k[i]! * e[j]!;
    return g;
  }
  const o2 = Dk * hidden;
  for (let u = 0; u < hidden; u++) {
    let h = 0;
    for (let i = 0; i < Dk; i++) h += k[i]! * p[i * hidden + u]!;
    const a = act(activation, h);
    let da = 0;
    for (let j = 0; j < Dv; j++) {
      g[o2 + u * Dv + j] = a * e[j]!;
      da += p[o2 + u * Dv + j]! * e[j]!;
    }
    const dh = da * dact(activation, h);
    for (let i = 0; i < Dk; i++) g[i * hidden + u] = k[i]! * dh;
  }
  return g;
}

/** The sequential float64 memory: every token's write and read, per (batch, head). */
export function memoryNaive(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, d: NaiveDims, o: NaiveOptions): NaiveResult {
  const { B, H, N, Dk, Dv } = d;
  const Dh = o.memory === 'mlp' ? (o.hidden ?? 0) : 0;
  if (o.memory === 'mlp' && !(Dh >= 1)) throw new Error('memoryNaive: an MLP memory needs hidden >= 1');
  const P = memorySize(o.memory, Dk, Dv, Dh);
  const mom = o.momentum !== undefined;
  const W = mom ? 2 * P : P;
  const act0 = o.activation ?? 'silu';
  const scale = o.scale ?? 1;
  const retained = (o.gradAt ?? 'previous') === 'retained';
  const out = new Float64Array(B * H * N * Dv);
  const state = new Float64Array(B * H * W);
  if (o.s0) {
    if (o.s0.length !== B * H * W) throw new Error(`memoryNaive: s0 has ${o.s0.length} values, want ${B * H * W}`);
    for (let i = 0; i < state.length; i++) state[i] = o.s0[i]!;
  }
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const base = (b * H + h) * W;
      const M = state.subarray(base, base + P);
      const S = state.subarray(base + P, base + W); // momentum (empty without)
      for (let t = 0; t < N; t++) {
        const row = (b * H + h) * N + t;
        const kt = Array.from({ length: Dk }, (_, i) => k[row * Dk + i]!);
        const vt = Array.from({ length: Dv }, (_, j) => v[row * Dv + j]!);
        const qt = Array.from({ length: Dk }, (_, i) => scale * q[row * Dk + i]!);
        const alpha = gateAt(o.retention, d, b, h, t, 0);
        const theta = gateAt(o.lr, d, b, h, t, 0);
        const eta = gateAt(o.momentum, d, b, h, t, 0);
        const at = retained ? Float64Array.from(M, (x) => (1 - alpha) * x) : M;
        const g = innerGrad(o.memory, o.bias, at, kt, vt, Dk, Dv, Dh, act0);
        for (let i = 0; i < P; i++) {
          const step = mom ? (S[i] = eta * S[i]! - theta * g[i]!) : -theta * g[i]!;
          M[i] = (1 - alpha) * M[i]! + step;
        }
        out.set(memoryRead(o.memory, M, qt, Dk, Dv, Dh, act0), row * Dv);
      }
    }
  }
  return { out, state };
}

/**
 * (Decayed, gated) linear attention in float64, written as attention, not as a memory:
 * o_t = scale sum_{s <= t} (prod_{r=s+1..t} (1 - alpha_r)) theta_s (q_t . k_s) v_s. The
 * independent check that a dot-product linear memory is linear attention.
 */
export function decayedLinearAttentionNaive(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, d: NaiveDims, o: { lr: NaiveGate; retention?: NaiveGate; scale?: number }): Float64Array {
  const { B, H, N, Dk, Dv } = d;
  const out = new Float64Array(B * H * N * Dv);
  const scale = o.scale ?? 1;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const r0 = (b * H + h) * N;
      for (let t = 0; t < N; t++) {
        let w = 1; // prod of (1 - alpha) from s + 1 to t
        for (let s = t; s >= 0; s--) {
          let dot = 0;
          for (let i = 0; i < Dk; i++) dot += q[(r0 + t) * Dk + i]! * k[(r0 + s) * Dk + i]!;
          const c = scale * w * gateAt(o.lr, d, b, h, s, 0) * dot;
          for (let j = 0; j < Dv; j++) out[(r0 + t) * Dv + j] += c * v[(r0 + s) * Dv + j]!;
          w *= 1 - gateAt(o.retention, d, b, h, s, 0);
        }
      }
    }
  }
  return out;
}
