/**
 * testTimeMemory(q, k, v, opts): a Miras / Titans test-time memory as tensor ops (every device,
 * autograd through everything, gates included). Per head, token by token:
 *
 *   g_t = grad l(M; k_t, v_t) at M_{t-1} (gradAt 'previous', the Miras/Titans step) or at
 *         (1 - alpha_t) M_{t-1} ('retained': Gated DeltaNet's form)
 *   Mom_t = eta_t Mom_{t-1} - theta_t g_t        (only with `momentum`: Titans' "surprise")
 *   M_t = (1 - alpha_t) M_{t-1} + Mom_t          (without momentum: - theta_t g_t)
 *   y_t = M_t(scale q_t)
 *
 * bias 'dot' (l = -<M(k), v>) with a linear memory is (decayed) linear attention; 'l2'
 * (l = 1/2 |M(k) - v|^2) is the delta rule. mode 'chunk' (linear memory without momentum, where it
 * is exact) runs chunks of C rows in parallel (chunk.ts); 'sequential' runs every memory. State
 * layout: linear [B, H, Dk, Dv] (S with y = q S; with momentum [B, H, 2 Dk, Dv], S then Mom);
 * MLP [B, H, P] (W1 [Dk, Dh] then W2 [Dh, Dv], row-major; with momentum [B, H, 2P]).
 */
import {
  add, broadcastTo, concat, isGradEnabled, matmul, mul, mulScalar, neg, randn, reshape, scope, sigmoid, slice, sub,
  tanh, tensor, TensorError, zeros, addScalar, getDefaultDevice, type Tensor,
} from '@attnlab/tensor';
import type { Activation, Bias, GradAt, MemoryKind } from './naive.js';
import { chunkLinearMemory } from './chunk.js';

/** A gate: one number, one per head (number[]), or a [B, H, N] tensor (data-dependent, gets a gradient). */
export type Gate = number | ArrayLike<number> | Tensor;

export interface MemoryOptions {
  /** 'linear' (matrix) or 'mlp' (2-layer deep memory). Default 'linear'. */
  memory?: MemoryKind;
  /** The attentional bias: 'dot' (Hebbian) or 'l2' (delta rule). Default 'l2'. */
  bias?: Bias;
  /** theta_t, the inner learning rate (required). */
  lr: Gate;
  /**
   * alpha_t in [0, 1): the retention gate (fraction forgotten per token). Default 0. Numbers are
   * checked; a tensor's values are not (reading them back would wait for the device): in chunk mode
   * a value >= 1 gives NaN (log(1 - alpha)).
   */
  retention?: Gate;
  /** eta_t: momentum of the inner update (Titans); given, the state carries the momentum too. */
  momentum?: Gate;
  /** Where the inner gradient is taken. Default 'previous'. */
  gradAt?: GradAt;
  /** Query scale. Default 1. */
  scale?: number;
  /** MLP hidden width Dh (required for 'mlp'). */
  hidden?: number;
  /** MLP activation. Default 'silu'. */
  activation?: Activation;
  /**
   * MLP initial weights when there is no initialState: W1 ~ N(0, std^2) (default std 1/sqrt(Dk)),
   * seeded per model head (`heads`: the model heads of q's heads), W2 = 0.
   */
  init?: { seed?: number; std?: number; heads?: readonly number[] | null };
  /** Default 'chunk' where exact (linear memory, no momentum), else 'sequential'. */
  mode?: 'chunk' | 'sequential';
  /**
   * Rows per chunk in chunk mode. Default 64 for 'dot', 16 for 'l2' (its (I + A)^{-1} by repeated
   * squaring loses float32 accuracy on larger chunks: ~2e-5 at 64 rows of 3-dim keys).
   */
  chunkSize?: number;
  initialState?: Tensor | null;
  outputFinalState?: boolean;
}

export interface MemoryResult {
  /** [B, H, N, Dv] */
  out: Tensor;
  finalState?: Tensor;
}

const OP = 'testTimeMemory';
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** A gate as a number or a tensor broadcastable to [B, H, N]. */
type G = number | Tensor;

function gate(g: Gate | undefined, name: string, dflt: number, B: number, H: number, N: number, dev: Tensor['device'], lo: number, hi: number): G {
  if (g === undefined) return dflt;
  const range = `[${lo}, ${hi === 1 ? '1)' : `${hi}]`}`;
  const okNum = (x: number): boolean => Number.isFinite(x) && x >= lo && (hi === 1 ? x < 1 : x <= hi);
  if (typeof g === 'number') {
    if (!okNum(g)) throw new TensorError(OP, `${name} must be a finite number in ${range}, got ${g}`);
    return g;
  }
  if (Array.isArray(g) || ArrayBuffer.isView(g)) {
    const a = Array.from(g as ArrayLike<number>);
    if (a.length !== H) throw new TensorError(OP, `${name} has ${a.length} values; give one number or one per head (${H})`);
    const bad = a.findIndex((x) => !okNum(x));
    if (bad >= 0) throw new TensorError(OP, `${name} of head ${bad} must be a finite number in ${range}, got ${a[bad]}`);
    return tensor(Float32Array.from(a), [1, H, 1], { device: dev });
  }
  const t = g as Tensor;
  if (typeof (t as { shape?: unknown }).shape !== 'object') throw new TensorError(OP, `${name} must be a number, one number per head or a [B, H, N] tensor, got ${String(g)}`);
  if (t.rank !== 3 || t.shape[0] !== B || t.shape[1] !== H || t.shape[2] !== N) throw new TensorError(OP, `${name} must be [${B}, ${H}, ${N}] (one value per token), got ${fmt(t.shape)}`);
  if (t.dtype !== 'float32') throw new TensorError(OP, `${name} must be float32, got ${t.dtype}`);
  if (t.device !== dev) throw new TensorError(OP, `${name} must be on the device of q`);
  return t;
}

/** The gate at token t as a number or a [B|1, H, 1, 1] tensor. */
function at(g: G, t: number): number | Tensor {
  if (typeof g === 'number') return g;
  const [b, h, n] = g.shape as [number, number, number];
  return reshape(n === 1 ? g : slice(g, [0, 0, t], [b, h, 1]), [b, h, 1, 1]);
}

const scal = (x: Tensor, g: number | Tensor): Tensor => (typeof g === 'number' ? (g === 1 ? x : mulScalar(x, g)) : mul(x, g));
const keepFrac = (a: number | Tensor): number | Tensor => (typeof a === 'number' ? 1 - a : addScalar(neg(a), 1));

function activate(a: Activation, x: Tensor): Tensor {
  return a === 'tanh' ? tanh(x) : mul(x, sigmoid(x));
}

function activateGrad(a: Activation, x: Tensor): Tensor {
  if (a === 'tanh') {
    const t = tanh(x);
    return addScalar(neg(mul(t, t)), 1);
  }
  const s = sigmoid(x);
  return mul(s, addScalar(mul(x, addScalar(neg(s), 1)), 1)); // s (1 + x (1 - s))
}

/** dl/dy of the bias at the memory's output y for value v, times coef (every gradient is linear in it). */
function outGrad(bias: Bias, y: Tensor | null, v: Tensor, coef: number | Tensor = 1): Tensor {
  if (bias === 'dot') return typeof coef === 'number' ? mulScalar(v, -coef) : mul(v, neg(coef));
  return scal(sub(y!, v), coef);
}

/** The read y = M(x) of an MLP memory, x [B, H, R, Dk]. */
export function mlpRead(W1: Tensor, W2: Tensor, x: Tensor, activation: Activation = 'silu'): Tensor {
  return matmul(activate(activation, matmul(x, W1)), W2);
}

/**
 * The inner gradient of an MLP memory for rows k [B, H, R, Dk], v [B, H, R, Dv] (summed over the
 * R rows): dW1 [B, H, Dk, Dh], dW2 [B, H, Dh, Dv], computed by hand (it is part of the forward pass).
 * `coef` (a number or a [B|1, H, R|1, 1] tensor) multiplies the gradient: applied to dl/dy, before
 * the outer products, it costs a row instead of a whole parameter matrix (the update uses -theta).
 */
export function mlpInnerGrad(W1: Tensor, W2: Tensor, k: Tensor, v: Tensor, bias: Bias, activation: Activation = 'silu', coef: number | Tensor = 1): { dW1: Tensor; dW2: Tensor } {
  const pre = matmul(k, W1);
  const a = activate(activation, pre);
  const e = outGrad(bias, bias === 'l2' ? matmul(a, W2) : null, v, coef);
  const dW2 = matmul(a, e, { transA: true });
  const dh = mul(matmul(e, W2, { transB: true }), activateGrad(activation, pre));
  return { dW1: matmul(k, dh, { transA: true }), dW2 };
}

/** The inner gradient of a linear memory S [B, H, Dk, Dv] for rows k, v (summed over rows), times `coef`. */
export function linearInnerGrad(S: Tensor, k: Tensor, v: Tensor, bias: Bias, coef: number | Tensor = 1): Tensor {
  return matmul(k, outGrad(bias, bias === 'l2' ? matmul(k, S) : null, v, coef), { transA: true });
}

/** Seeded MLP weights per model head (so a head slice gets the same weights as the whole model). */
function mlpInit(B: number, H: number, Dk: number, Dh: number, Dv: number, dev: Tensor['device'], init: MemoryOptions['init']): Tensor[] {
  const heads = init?.heads ?? null;
  if (heads && heads.length !== H) throw new TensorError(OP, `init.heads has ${heads.length} entries for ${H} heads`);
  const std = init?.std ?? 1 / Math.sqrt(Dk);
  const seed = init?.seed ?? 0;
  const per = heads ?? Array.from({ length: H }, (_, h) => h);
  const rows = per.map((h) => randn([1, 1, Dk, Dh], { device: dev, seed: seed * 100003 + h, std }));
  const W1 = broadcastTo(rows.length === 1 ? rows[0]! : concat(rows, 1), [B, H, Dk, Dh]);
  return [W1, zeros([B, H, Dh, Dv], { device: dev })];
}

/** The state's parts: linear [S] or MLP [W1, W2], then (with momentum) their momenta. */
function unpack(s: Tensor, memory: MemoryKind, mom: boolean, B: number, H: number, Dk: number, Dv: number, Dh: number): Tensor[] {
  if (memory === 'linear') return mom ? [slice(s, [0, 0, 0, 0], [B, H, Dk, Dv]), slice(s, [0, 0, Dk, 0], [B, H, Dk, Dv])] : [s];
  const p1 = Dk * Dh;
  const P = p1 + Dh * Dv;
  const part = (o: number, r: number, c: number): Tensor => reshape(slice(s, [0, 0, o], [B, H, r * c]), [B, H, r, c]);
  const ws = [part(0, Dk, Dh), part(p1, Dh, Dv)];
  return mom ? [...ws, part(P, Dk, Dh), part(P + p1, Dh, Dv)] : ws;
}

function pack(parts: Tensor[], memory: MemoryKind, B: number, H: number): Tensor {
  if (memory === 'linear') return parts.length === 1 ? parts[0]! : concat(parts, 2);
  return concat(parts.map((p) => reshape(p, [B, H, p.shape[2]! * p.shape[3]!])), 2);
}

/** The state shape for these options. */
export function memoryStateShape(memory: MemoryKind, momentum: boolean, B: number, H: number, Dk: number, Dv: number, hidden = 0): number[] {
  if (memory === 'linear') return [B, H, momentum ? 2 * Dk : Dk, Dv];
  const P = Dk * hidden + hidden * Dv;
  return [B, H, momentum ? 2 * P : P];
}

/**
 * The state a memory starts from without initialState (zeros; an MLP's seeded W1 and W2 = 0), in
 * the layout of initialState / finalState: e.g. to run the float64 reference from the same weights.
 */
export function initialMemoryState(o: Pick<MemoryOptions, 'memory' | 'hidden' | 'init' | 'momentum'>, B: number, H: number, Dk: number, Dv: number, device?: Tensor['device']): Tensor {
  const memory = o.memory ?? 'linear';
  const mom = o.momentum !== undefined;
  if (memory === 'linear') return zeros(memoryStateShape('linear', mom, B, H, Dk, Dv), device ? { device } : {});
  const Dh = o.hidden ?? 0;
  if (!(Number.isInteger(Dh) && Dh >= 1)) throw new TensorError('initialMemoryState', `an MLP memory needs hidden (an integer >= 1), got ${String(o.hidden)}`);
  const dev = device ?? getDefaultDevice();
  const m = mlpInit(B, H, Dk, Dh, Dv, dev, o.init);
  return pack(mom ? [...m, ...m.map((x) => zeros(x.shape, { device: dev }))] : m, 'mlp', B, H);
}

export function testTimeMemory(q: Tensor, k: Tensor, v: Tensor, opts: MemoryOptions): MemoryResult {
  for (const [n, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (!t || typeof (t as { shape?: unknown }).shape !== 'object') throw new TensorError(OP, `${n} must be a Tensor, got ${String(t)}`);
    if (t.rank !== 4) throw new TensorError(OP, `${n} must be [B, H, N, D], got ${fmt(t.shape)}`);
    if (t.dtype !== 'float32') throw new TensorError(OP, `${n} must be float32, got ${t.dtype}`);
    if (t.device !== q.device) throw new TensorError(OP, `${n} is on ${t.device.kind}, q on ${q.device.kind}`);
  }
  const [B, H, N, Dk] = q.shape as [number, number, number, number];
  if (k.shape[0] !== B || k.shape[1] !== H || k.shape[2] !== N || k.shape[3] !== Dk) throw new TensorError(OP, `k must be ${fmt([B, H, N, Dk])} like q, got ${fmt(k.shape)}`);
  if (v.shape[0] !== B || v.shape[1] !== H || v.shape[2] !== N) throw new TensorError(OP, `v must be [${B}, ${H}, ${N}, Dv], got ${fmt(v.shape)}`);
  const Dv = v.shape[3]!;
  if (!opts || typeof opts !== 'object') throw new TensorError(OP, 'options are required (at least lr)');
  const memory = opts.memory ?? 'linear';
  if (memory !== 'linear' && memory !== 'mlp') throw new TensorError(OP, `memory must be 'linear' or 'mlp', got '${String(memory)}'`);
  const bias = opts.bias ?? 'l2';
  if (bias !== 'dot' && bias !== 'l2') throw new TensorError(OP, `bias must be 'dot' or 'l2', got '${String(bias)}'`);
  const gradAt = opts.gradAt ?? 'previous';
  if (gradAt !== 'previous' && gradAt !== 'retained') throw new TensorError(OP, `gradAt must be 'previous' or 'retained', got '${String(gradAt)}'`);
  const activation = opts.activation ?? 'silu';
  if (activation !== 'silu' && activation !== 'tanh') throw new TensorError(OP, `activation must be 'silu' or 'tanh', got '${String(activation)}'`);
  const Dh = memory === 'mlp' ? opts.hidden ?? 0 : 0;
  if (memory === 'mlp' && !(Number.isInteger(Dh) && Dh >= 1)) throw new TensorError(OP, `an MLP memory needs hidden (an integer >= 1), got ${String(opts.hidden)}`);
  const scale = opts.scale ?? 1;
  if (!Number.isFinite(scale)) throw new TensorError(OP, `scale must be finite, got ${scale}`);
  if (opts.lr === undefined) throw new TensorError(OP, 'lr (the inner learning rate theta) is required');
  const dev = q.device;
  const lr = gate(opts.lr, 'lr', 0, B, H, N, dev, -Infinity, Infinity);
  const ret = gate(opts.retention, 'retention', 0, B, H, N, dev, 0, 1);
  const mom = opts.momentum !== undefined;
  const eta = gate(opts.momentum, 'momentum', 0, B, H, N, dev, -Infinity, Infinity);
  const mode = opts.mode ?? (memory === 'linear' && !mom ? 'chunk' : 'sequential');
  if (mode !== 'chunk' && mode !== 'sequential') throw new TensorError(OP, `mode must be 'chunk' or 'sequential', got '${String(mode)}'`);
  if (mode === 'chunk' && (memory !== 'linear' || mom)) throw new TensorError(OP, `mode 'chunk' is exact only for a linear memory without momentum; use mode 'sequential' for ${memory === 'mlp' ? 'an MLP memory' : 'momentum'}`);
  const want = memoryStateShape(memory, mom, B, H, Dk, Dv, Dh);
  const s0 = opts.initialState ?? null;
  if (s0) {
    if (s0.rank !== want.length || s0.shape.some((d, i) => d !== want[i])) throw new TensorError(OP, `initialState must be ${fmt(want)} for this memory, got ${fmt(s0.shape)}`);
    if (s0.device !== dev) throw new TensorError(OP, 'initialState must be on the device of q');
  }
  const qs = scale === 1 ? q : mulScalar(q, scale);
  if (mode === 'chunk') {
    const C = opts.chunkSize ?? (bias === 'l2' ? 16 : 64);
    if (!(Number.isInteger(C) && C >= 1)) throw new TensorError(OP, `chunkSize must be an integer >= 1, got ${C}`);
    const r = chunkLinearMemory(qs, k, v, { bias, gradAt, lr, retention: ret, s0: s0 ?? zeros([B, H, Dk, Dv], { device: dev }), chunk: C });
    return opts.outputFinalState ? { out: r.out, finalState: r.S } : { out: r.out };
  }
  let parts: Tensor[];
  if (s0) parts = unpack(s0, memory, mom, B, H, Dk, Dv, Dh);
  else {
    const m = memory === 'linear' ? [zeros([B, H, Dk, Dv], { device: dev })] : mlpInit(B, H, Dk, Dh, Dv, dev, opts.init);
    parts = mom ? [...m, ...m.map((x) => zeros(x.shape, { device: dev }))] : m;
  }
  const nm = memory === 'linear' ? 1 : 2;
  // Without autograd each token's intermediates are freed at once (long sequences stay small).
  const grad = isGradEnabled() && [q, k, v, s0, lr, ret, eta].some((t) => t && typeof t === 'object' && t.requiresGrad);
  const outs: Tensor[] = [];
  const step = (t: number): Tensor[] => {
    const row = (x: Tensor, w: number): Tensor => slice(x, [0, 0, t, 0], [B, H, 1, w]);
    const kt = row(k, Dk), vt = row(v, Dv), qt = row(qs, Dk);
    const a = keepFrac(at(ret, t));
    const ws = parts.slice(0, nm);
    const wg = gradAt === 'retained' ? ws.map((w) => scal(w, a)) : ws;
    const th = at(lr, t);
    const negTh = typeof th === 'number' ? -th : neg(th);
    // -theta g, scaled on the output row before the outer products.
    let g: Tensor[];
    if (memory === 'linear') g = [linearInnerGrad(wg[0]!, kt, vt, bias, negTh)];
    else {
      const d = mlpInnerGrad(wg[0]!, wg[1]!, kt, vt, bias, activation, negTh);
      g = [d.dW1, d.dW2];
    }
    const steps = mom ? g.map((gi, i) => add(scal(parts[nm + i]!, at(eta, t)), gi)) : g;
    const next = ws.map((w, i) => add(scal(w, a), steps[i]!));
    const y = memory === 'linear' ? matmul(qt, next[0]!) : mlpRead(next[0]!, next[1]!, qt, activation);
    return [y, ...next, ...(mom ? steps : [])];
  };
  for (let t = 0; t < N; t++) {
    if (grad) {
      const [y, ...p] = step(t);
      outs.push(y!);
      parts = p;
    } else {
      const prev = parts;
      const [y, ...p] = scope(() => step(t));
      outs.push(y!);
      parts = p;
      for (const x of prev) if (x !== s0) x.dispose();
    }
  }
  const out = outs.length === 1 ? outs[0]! : concat(outs, 2);
  if (!grad) for (const y of outs) if (y !== out) y.dispose();
  const finalState = opts.outputFinalState ? pack(parts, memory, B, H) : undefined;
  if (!grad && !opts.outputFinalState) for (const x of parts) x.dispose();
  return finalState ? { out, finalState } : { out };
}
