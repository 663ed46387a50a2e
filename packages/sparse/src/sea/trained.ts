/**
 * SEA's trained estimator (Lee et al. distil a kernel linear attention from the teacher's attention
 * map): per (layer, head) learned projections W_q, W_k [d, r] and positive features
 * φ_q(q) = exp(q W_q), φ_k(k) = exp(k W_k), so the estimated row is the linear-attention row
 * p̂_ij = φ_q(q_i)·φ_k(k_j) / Σ_j' φ_q(q_i)·φ_k(k_j'). It is distilled by KL(teacher row ‖ p̂ row)
 * on the teacher's own causal softmax rows; its top-k per row then picks the keys exact attention
 * runs on. Ranking uses log φ_q(q_i)·φ_k(k_j) (a row's normaliser does not change its order).
 * kind 'bilinear' drops φ: a rank-r softmax estimate exp((q W_q)·(k W_k)) of the row instead.
 */
import { AdamW, TensorError, add, addScalar, detach, exp, log, logSoftmax, matmul, max, mul, mulScalar, neg, scope, sub, sum, tensor, transpose, type Tensor } from '@attnlab/tensor';
import { gaussian, rng } from '../common/random.js';
import { topIndices, type SeaShape } from './estimate.js';
import { causalProbs64 } from '../block-select/index.js';

export interface SeaEstimatorShape {
  /** Estimator heads G (a model's layers·heads; index = layer·heads + head). */
  layers: number;
  heads: number;
  /** Head dim d of q and k. */
  dHead: number;
  /** Feature dim r of φ_q, φ_k. */
  rank: number;
  /**
   * 'exp': positive features exp(x W), a kernel linear attention (p̂ ∝ φ_q·φ_k); 'bilinear': the
   * projections themselves, p̂ ∝ exp((q W_q)·(k W_k)), a rank-r softmax estimate. Default 'exp'.
   */
  kind?: 'exp' | 'bilinear';
}

/** Weights wq, wk [G, d, r] row-major, G = layers·heads. */
export interface SeaEstimator extends SeaEstimatorShape {
  wq: Float32Array;
  wk: Float32Array;
}

function checkShape(op: string, s: SeaEstimatorShape): void {
  for (const n of ['layers', 'heads', 'dHead', 'rank'] as const) {
    const x = s[n];
    if (!Number.isInteger(x) || x < 1) throw new TensorError(op, `${n} must be a positive integer, got ${String(x)}`);
  }
}

/** Checks an estimator's fields and weight lengths (a loaded or hand-built one). */
export function checkSeaEstimator(op: string, e: SeaEstimator): void {
  checkShape(op, e);
  if (e.kind !== undefined && e.kind !== 'exp' && e.kind !== 'bilinear') throw new TensorError(op, `kind must be 'exp' or 'bilinear', got ${String(e.kind)}`);
  const n = e.layers * e.heads * e.dHead * e.rank;
  for (const w of ['wq', 'wk'] as const) {
    if (!(e[w] instanceof Float32Array)) throw new TensorError(op, `estimator.${w} must be a Float32Array`);
    if (e[w].length !== n) throw new TensorError(op, `estimator.${w} has ${e[w].length} values, expected layers·heads·dHead·rank = ${n}`);
  }
}

/** A seeded random estimator, the starting point of distillation (entries N(0, 1/d)). */
export function initSeaEstimator(s: SeaEstimatorShape, seed = 0): SeaEstimator {
  checkShape('initSeaEstimator', s);
  if (s.kind !== undefined && s.kind !== 'exp' && s.kind !== 'bilinear') throw new TensorError('initSeaEstimator', `kind must be 'exp' or 'bilinear', got ${String(s.kind)}`);
  const n = s.layers * s.heads * s.dHead * s.rank;
  const r = rng(seed);
  const c = 1 / Math.sqrt(s.dHead);
  return { ...s, wq: gaussian(r, n).map((x) => x * c), wk: gaussian(r, n).map((x) => x * c) };
}

function checkHead(op: string, e: SeaEstimator, gi: number, q: ArrayLike<number>, k: ArrayLike<number>, s: SeaShape): void {
  checkSeaEstimator(op, e);
  const G = e.layers * e.heads;
  if (!Number.isInteger(gi) || gi < 0 || gi >= G) throw new TensorError(op, `head index ${gi} is outside 0..${G - 1} (layers·heads)`);
  if (s.d !== e.dHead) throw new TensorError(op, `q/k head dim ${s.d} differs from the estimator's dHead ${e.dHead}`);
  for (const [name, x] of Object.entries(s)) if (!Number.isInteger(x) || x < 1) throw new TensorError(op, `${name} must be a positive integer, got ${String(x)}`);
  if (q.length !== s.nq * s.d) throw new TensorError(op, `q has ${q.length} values, expected nq·d = ${s.nq}·${s.d}`);
  if (k.length !== s.nk * s.d) throw new TensorError(op, `k has ${k.length} values, expected nk·d = ${s.nk}·${s.d}`);
}

/** x [n, d] · w[gi] [d, r] in float64, each row shifted by its max (returned separately). */
function projectShifted(x: ArrayLike<number>, n: number, d: number, w: Float32Array, gi: number, r: number, shift: boolean): { e: Float64Array; m: Float64Array } {
  const e = new Float64Array(n * r);
  const m = new Float64Array(n);
  const o = gi * d * r;
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let f = 0; f < r; f++) {
      let z = 0;
      for (let c = 0; c < d; c++) z += x[i * d + c]! * w[o + c * r + f]!;
      e[i * r + f] = z;
      mx = Math.max(mx, z);
    }
    if (!shift) continue;
    m[i] = mx;
    for (let f = 0; f < r; f++) e[i * r + f] = Math.exp(e[i * r + f]! - mx);
  }
  return { e, m };
}

/**
 * The estimator's log-scores log φ_q(q_i)·φ_k(k_j) [nq, nk] for head gi, float64 (−Infinity on
 * causally hidden keys when causal; queries end-aligned).
 */
export function estimatorLogScores(e: SeaEstimator, gi: number, q: ArrayLike<number>, k: ArrayLike<number>, s: SeaShape, causal = false): Float64Array {
  checkHead('estimatorLogScores', e, gi, q, k, s);
  const r = e.rank;
  const bil = e.kind === 'bilinear';
  const a = projectShifted(q, s.nq, s.d, e.wq, gi, r, !bil);
  const b = projectShifted(k, s.nk, s.d, e.wk, gi, r, !bil);
  const out = new Float64Array(s.nq * s.nk).fill(-Infinity);
  for (let i = 0; i < s.nq; i++) {
    const len = causal ? Math.max(0, Math.min(s.nk, i + s.nk - s.nq + 1)) : s.nk;
    for (let j = 0; j < len; j++) {
      let dot = 0;
      for (let f = 0; f < r; f++) dot += a.e[i * r + f]! * b.e[j * r + f]!;
      out[i * s.nk + j] = bil ? dot : Math.log(dot) + a.m[i]! + b.m[j]!;
    }
  }
  return out;
}

/** Estimated top-k keys per query of head gi from the trained estimator: [nq][≤ k]. */
export function trainedTopK(e: SeaEstimator, gi: number, q: ArrayLike<number>, k: ArrayLike<number>, s: SeaShape, o: { topK?: number; causal?: boolean } = {}): Int32Array[] {
  const topK = o.topK ?? 8;
  if (!Number.isInteger(topK) || topK < 1) throw new TensorError('trainedTopK', `topK must be a positive integer, got ${topK}`);
  const sc = estimatorLogScores(e, gi, q, k, s, o.causal ?? false);
  const out: Int32Array[] = [];
  for (let i = 0; i < s.nq; i++) {
    const len = o.causal ? Math.max(0, Math.min(s.nk, i + s.nk - s.nq + 1)) : s.nk;
    out.push(topIndices(sc.subarray(i * s.nk, (i + 1) * s.nk), len, topK));
  }
  return out;
}

/**
 * The estimator's normalised log-rows log p̂ [..., nq, nk] as tensors (the distillation forward):
 * q [..., nq, d], k [..., nk, d], wq/wk [..., d, r] broadcast over the leading dims; bias [nq, nk]
 * is 0 on visible and a large negative number on hidden keys. Runs on q's device.
 */
export function estimatorLogProbs(q: Tensor, k: Tensor, wq: Tensor, wk: Tensor, bias: Tensor, kind: 'exp' | 'bilinear' = 'exp'): Tensor {
  const a = matmul(q, wq);
  const b = matmul(k, wk);
  if (kind === 'bilinear') return logSoftmax(add(matmul(a, b, { transB: true }), bias), -1);
  // exp(a − max) keeps the features ≤ 1; the shifts are added back outside the log (constants for autograd).
  const ma = detach(max(a, -1, true));
  const mb = detach(max(b, -1, true));
  const s = matmul(exp(sub(a, ma)), exp(sub(b, mb)), { transB: true });
  // 1e-30 keeps log finite where float32 underflows (the row then has far larger entries elsewhere).
  const logS = add(add(log(addScalar(s, 1e-30)), ma), transpose(mb, -1, -2));
  return logSoftmax(add(logS, bias), -1);
}

/** One distillation example: one window's rotated q and k of every estimator head, [G][n·d]. */
export interface SeaSample {
  q: Float32Array[];
  k: Float32Array[];
  n: number;
}

export interface SeaDistillOptions {
  steps: number;
  lr?: number;
  /** Teacher score scale; default 1/sqrt(dHead). */
  scale?: number;
  onStep?: (step: number, kl: number) => void;
}

/**
 * Distil the estimator on causal windows (all of one length n) with AdamW, every head at once:
 * minimise KL(teacher row ‖ p̂ row) averaged over rows. Returns the trained estimator and the
 * per-step KL.
 */
export async function distillSeaEstimator(e: SeaEstimator, samples: readonly SeaSample[], o: SeaDistillOptions): Promise<{ estimator: SeaEstimator; losses: number[] }> {
  checkSeaEstimator('distillSeaEstimator', e);
  if (!samples.length) throw new TensorError('distillSeaEstimator', 'no samples');
  if (!Number.isInteger(o.steps) || o.steps < 0) throw new TensorError('distillSeaEstimator', `steps must be a non-negative integer, got ${String(o.steps)}`);
  const { dHead: d, rank: r } = e;
  const G = e.layers * e.heads;
  const n = samples[0]!.n;
  const S = samples.length;
  const scale = o.scale ?? 1 / Math.sqrt(d);
  const qa = new Float32Array(S * G * n * d);
  const ka = new Float32Array(S * G * n * d);
  const ta = new Float32Array(S * G * n * n);
  let entropy = 0;
  samples.forEach((s, si) => {
    if (s.n !== n) throw new TensorError('distillSeaEstimator', `sample ${si} has n = ${s.n}; sample 0 has ${n}`);
    if (s.q.length !== G || s.k.length !== G) throw new TensorError('distillSeaEstimator', `sample ${si} must hold ${G} heads (layers·heads) of q and k, got ${s.q.length} and ${s.k.length}`);
    for (let gi = 0; gi < G; gi++) {
      for (const [name, x] of [['q', s.q[gi]!], ['k', s.k[gi]!]] as const) if (x.length !== n * d) throw new TensorError('distillSeaEstimator', `sample ${si} head ${gi}: ${name} has ${x.length} values, expected n·dHead = ${n}·${d}`);
      const p = causalProbs64(s.q[gi]!, s.k[gi]!, n, n, d, scale);
      const o0 = (si * G + gi) * n;
      qa.set(s.q[gi]!, o0 * d);
      ka.set(s.k[gi]!, o0 * d);
      ta.set(p, o0 * n);
      for (const x of p) if (x > 0) entropy -= x * Math.log(x);
    }
  });
  const rows = S * G * n;
  entropy /= rows;
  const bias = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) bias[i * n + j] = -1e4;
  const wq = tensor(e.wq, [G, d, r]).requireGrad();
  const wk = tensor(e.wk, [G, d, r]).requireGrad();
  const Q = tensor(qa, [S, G, n, d]);
  const K = tensor(ka, [S, G, n, d]);
  const T = tensor(ta, [S, G, n, n]);
  const B = tensor(bias, [n, n]);
  const opt = new AdamW([wq, wk], { lr: o.lr ?? 2e-2, weightDecay: 0 });
  const losses: number[] = [];
  try {
    for (let step = 0; step < o.steps; step++) {
      const ce = await scope(async () => {
        const loss = mulScalar(neg(sum(mul(T, estimatorLogProbs(Q, K, wq, wk, B, e.kind ?? 'exp')))), 1 / rows);
        loss.backward();
        opt.step();
        opt.zeroGrad();
        return loss.item();
      });
      losses.push(ce - entropy);
      o.onStep?.(step, ce - entropy);
    }
    return { estimator: { ...e, wq: Float32Array.from((await wq.data()) as Float32Array), wk: Float32Array.from((await wk.data()) as Float32Array) }, losses };
  } finally {
    for (const t of [wq, wk, Q, K, T, B]) t.dispose();
  }
}
