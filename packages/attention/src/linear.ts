/**
 * linearAttention(q, k, v, opts): causal linear attention in three modes (fla's shapes).
 *   recurrent: S_t = lambda S_{t-1} + phi(k_t)^T v_t, o_t = scale phi(q_t) S_t
 *   parallel:  O = ((phi(Q) phi(K)^T) . D) V with D_ts = lambda^{t-s} (s <= t)
 *   chunk:     Lightning Attention-2: intra-chunk parallel + inter-chunk state
 * normalize divides by phi(q_t) . z_t (z is carried as the last state column).
 */
import { concat, customGrad, isGradEnabled, reshape, slice, TensorError, type Tensor } from '@attnlab/tensor';
import { featureDim, featurize, featurizeBackward, type FeatureMap } from './reference/linear.js';
import { linearCore, linearCoreBackward, withOnes, type Arr } from './cpu/linear-core.js';
import { linearKernels, linearWasmAvailable } from './cpu/linear-wasm.js';
import { linearChunkCpu } from './cpu/linear-chunk-cpu.js';
import { cpuArray, fromHost, hostArray } from './tensor-io.js';
import { featurizeTensor, linearAttentionGpu, logDecayTensor } from './linear-gpu.js';
import { deltaRule } from './linear-delta.js';

export interface LinearAttentionOptions {
  featureMap?: FeatureMap;
  /** Default 'chunk'. */
  mode?: 'parallel' | 'recurrent' | 'chunk';
  /** Rows per chunk in chunk mode (default 64). */
  chunkSize?: number;
  /** lambda in (0, 1]: one number or one per head. Default 1 (no decay). */
  decay?: number | ArrayLike<number>;
  normalize?: boolean;
  /** Default 1/sqrt(D). For taylor2 it scales q.k inside the feature map. */
  scale?: number;
  /** [B, H, F, Dv (+1 with normalize)], F = feature dim (D, or 1 + D + D^2 for taylor2). */
  initialState?: Tensor | null;
  outputFinalState?: boolean;
  /**
   * [B, H, N] log decay per token (fla's simple_gla / GLA `g`, e.g. logsigmoid of a projection):
   * the step into t multiplies the state by exp(g_t) (on top of `decay`). Finite and <= 0.
   * Gets a gradient.
   */
  gate?: Tensor | null;
  /**
   * Packed variable-length sequences (fla's cu_seqlens): [0, n_1, n_1 + n_2, ..., N] with B = 1.
   * The state restarts at each boundary; initialState and finalState are then [nSeq, H, F, W].
   */
  cuSeqlens?: ArrayLike<number> | null;
  /**
   * [B, H, N] delta-rule strength per token (DeltaNet; with `gate`, Gated DeltaNet):
   * S_t = a_t S_{t-1} + beta_t phi(k_t) (v_t - a_t S_{t-1}^T phi(k_t))^T. Finite (fla: a sigmoid).
   * Not with normalize. Gets a gradient.
   */
  beta?: Tensor | null;
}

export interface LinearAttentionResult {
  /** [B, H, N, Dv] */
  out: Tensor;
  /** [B, H, F, Dv (+1)] when outputFinalState. */
  finalState?: Tensor;
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Featurised rows phi(x) for all rows, float64 (the plain JS cores). `rescale` (elu1 with
 * normalize): a row with no positive entry is divided by e^{max}: the output does not change
 * (numerator and normaliser scale alike) and no longer underflows on rows like x = -120.
 */
function featurizeAll(map: FeatureMap, x: Float32Array, rows: number, D: number, scale: number, F: number, rescale: boolean): Float64Array {
  if (map === 'taylor2') {
    const out = new Float64Array(rows * F);
    for (let r = 0; r < rows; r++) out.set(featurize(map, x, r * D, D, scale), r * F);
    return out;
  }
  const n = rows * D;
  const out = new Float64Array(n);
  if (map === 'identity') out.set(x);
  else if (map === 'relu') for (let i = 0; i < n; i++) out[i] = Math.max(x[i]!, 0);
  else for (let i = 0; i < n; i++) { const z = x[i]!; out[i] = z > 0 ? z + 1 : Math.exp(z); }
  if (map !== 'elu1' || !rescale) return out;
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let d = 0; d < D; d++) m = Math.max(m, x[r * D + d]!);
    if (m > 0) continue;
    for (let d = 0; d < D; d++) out[r * D + d] = Math.exp(x[r * D + d]! - m);
  }
  return out;
}

/**
 * dx from dphi for all rows (float32 out). `phi` is the forward's features: for elu1 at x <= 0
 * the derivative e^x is phi itself (also for rescaled rows, whose dphi carries the factor back).
 */
function featurizeBackwardAll(map: FeatureMap, x: Float32Array, phi: Arr, dphi: Arr, rows: number, D: number, scale: number, F: number): Float32Array {
  const out = new Float32Array(rows * D);
  if (map === 'taylor2') {
    for (let r = 0; r < rows; r++) out.set(featurizeBackward(map, x, r * D, D, scale, Float64Array.from(dphi.subarray(r * F, (r + 1) * F))), r * D);
    return out;
  }
  const n = rows * D;
  if (map === 'identity') out.set(dphi);
  else if (map === 'relu') for (let i = 0; i < n; i++) out[i] = x[i]! > 0 ? dphi[i]! : 0;
  else for (let i = 0; i < n; i++) out[i] = x[i]! > 0 ? dphi[i]! : phi[i]! * dphi[i]!;
  return out;
}

function checkGate(g: Tensor, q: Tensor, B: number, H: number, N: number, op: string): void {
  if (g.rank !== 3 || g.shape[0] !== B || g.shape[1] !== H || g.shape[2] !== N) throw new TensorError(op, `gate must be [${B}, ${H}, ${N}] (log decay per token), got ${fmt(g.shape)}`);
  if (g.dtype !== 'float32') throw new TensorError(op, `gate must be float32, got ${g.dtype}`);
  if (g.device !== q.device) throw new TensorError(op, 'gate must be on the device of q');
}

function checkBeta(b: Tensor, q: Tensor, B: number, H: number, N: number, op: string): void {
  if (b.rank !== 3 || b.shape[0] !== B || b.shape[1] !== H || b.shape[2] !== N) throw new TensorError(op, `beta must be [${B}, ${H}, ${N}] (delta-rule strength per token), got ${fmt(b.shape)}`);
  if (b.dtype !== 'float32') throw new TensorError(op, `beta must be float32, got ${b.dtype}`);
  if (b.device !== q.device) throw new TensorError(op, 'beta must be on the device of q');
}

function checkGateValues(ga: Float32Array, op: string): void {
  for (let i = 0; i < ga.length; i++) {
    if (!(ga[i]! <= 0) || ga[i] === -Infinity) throw new TensorError(op, `gate values are log decays: finite and <= 0, got ${ga[i]} at index ${i}`);
  }
}

/** Packed sequences: each [cu_i, cu_{i+1}) slice runs alone (autograd joins them through slice/concat). */
async function linearAttentionVarlen(q: Tensor, k: Tensor, v: Tensor, opts: LinearAttentionOptions, cu: ArrayLike<number>): Promise<LinearAttentionResult> {
  const op = 'linearAttention';
  const [B, H, N, D] = q.shape as [number, number, number, number];
  const Dv = v.shape[3]!;
  if (B !== 1) throw new TensorError(op, `cuSeqlens packs sequences along N and needs B = 1, got B = ${B}`);
  const c = Array.from(cu);
  if (c.length < 2 || c[0] !== 0 || c[c.length - 1] !== N) throw new TensorError(op, `cuSeqlens must run from 0 to N = ${N}, got [${c.join(', ')}]`);
  for (let i = 1; i < c.length; i++) {
    if (!Number.isInteger(c[i]) || c[i]! <= c[i - 1]!) throw new TensorError(op, `cuSeqlens must be strictly increasing integers (every sequence non-empty), got [${c.join(', ')}]`);
  }
  const nSeq = c.length - 1;
  const map = opts.featureMap ?? 'identity';
  const F = featureDim(map, D);
  const W = Dv + (opts.normalize ? 1 : 0);
  const s0 = opts.initialState ?? null;
  if (s0) {
    const want = [nSeq, H, F, W];
    if (s0.rank !== 4 || s0.shape.some((d, i) => d !== want[i])) throw new TensorError(op, `initialState with cuSeqlens must be [nSeq, H, F, W] = ${fmt(want)}, got ${fmt(s0.shape)}`);
  }
  if (opts.gate) checkGate(opts.gate, q, B, H, N, op);
  if (opts.beta) checkBeta(opts.beta, q, B, H, N, op);
  const outs: Tensor[] = [];
  const fins: Tensor[] = [];
  for (let i = 0; i < nSeq; i++) {
    const a = c[i]!;
    const n = c[i + 1]! - a;
    const part = (t: Tensor, w: number): Tensor => slice(t, [0, 0, a, 0], [1, H, n, w]);
    const res = await linearAttention(part(q, D), part(k, D), part(v, Dv), {
      ...opts, cuSeqlens: null, outputFinalState: opts.outputFinalState ?? false,
      initialState: s0 ? slice(s0, [i, 0, 0, 0], [1, H, F, W]) : null,
      gate: opts.gate ? slice(opts.gate, [0, 0, a], [1, H, n]) : null,
      beta: opts.beta ? slice(opts.beta, [0, 0, a], [1, H, n]) : null,
    });
    outs.push(res.out);
    if (res.finalState) fins.push(res.finalState);
  }
  const res: LinearAttentionResult = { out: nSeq === 1 ? outs[0]! : concat(outs, 2) };
  if (opts.outputFinalState) res.finalState = nSeq === 1 ? fins[0]! : concat(fins, 0);
  return res;
}

export async function linearAttention(q: Tensor, k: Tensor, v: Tensor, opts: LinearAttentionOptions = {}): Promise<LinearAttentionResult> {
  const op = 'linearAttention';
  for (const [n, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (t.rank !== 4) throw new TensorError(op, `${n} must be [B, H, N, D], got ${fmt(t.shape)}`);
    if (t.dtype !== 'float32') throw new TensorError(op, `${n} must be float32, got ${t.dtype}`);
  }
  if (q.device !== k.device || q.device !== v.device) throw new TensorError(op, 'q, k, v must be on one device');
  const [B, H, N, D] = q.shape as [number, number, number, number];
  if (k.shape.some((d, i) => d !== q.shape[i])) throw new TensorError(op, `k ${fmt(k.shape)} must have the shape of q ${fmt(q.shape)}`);
  if (v.shape[0] !== B || v.shape[1] !== H || v.shape[2] !== N) throw new TensorError(op, `v ${fmt(v.shape)} must be [${B}, ${H}, ${N}, Dv]`);
  const Dv = v.shape[3]!;
  const map = opts.featureMap ?? 'identity';
  if (!['identity', 'elu1', 'relu', 'taylor2'].includes(map)) throw new TensorError(op, `unknown featureMap '${String(map)}' (identity, elu1, relu, taylor2)`);
  const mode = opts.mode ?? 'chunk';
  if (!['parallel', 'recurrent', 'chunk'].includes(mode)) throw new TensorError(op, `unknown mode '${String(mode)}' (parallel, recurrent, chunk)`);
  const C = opts.chunkSize ?? 64;
  if (!Number.isInteger(C) || C < 1) throw new TensorError(op, `chunkSize must be a positive integer, got ${C}`);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new TensorError(op, `scale must be finite, got ${scale}`);
  const decay = opts.decay ?? 1;
  const lam = typeof decay === 'number' ? Array.from({ length: H }, () => decay) : Array.from(decay);
  if (lam.length !== H) throw new TensorError(op, `decay has ${lam.length} entries for ${H} heads`);
  for (const l of lam) if (!(l > 0 && l <= 1)) throw new TensorError(op, `decay must be in (0, 1], got ${l}`);
  const normalize = opts.normalize ?? false;
  if (opts.cuSeqlens) return linearAttentionVarlen(q, k, v, opts, opts.cuSeqlens);
  const F = featureDim(map, D);
  const W = Dv + (normalize ? 1 : 0);
  const s0t = opts.initialState ?? null;
  if (s0t) {
    const want = [B, H, F, W];
    if (s0t.rank !== 4 || s0t.shape.some((d, i) => d !== want[i])) throw new TensorError(op, `initialState must be ${fmt(want)}, got ${fmt(s0t.shape)}`);
    if (s0t.device !== q.device) throw new TensorError(op, 'initialState must be on the device of q');
  }
  const gt = opts.gate ?? null;
  if (gt) checkGate(gt, q, B, H, N, op);
  const ga = gt ? await hostArray(gt, op) : null;
  if (ga) checkGateValues(ga, op);
  const bt = opts.beta ?? null;
  if (bt) {
    checkBeta(bt, q, B, H, N, op);
    if (normalize) throw new TensorError(op, 'normalize is not defined for the delta rule (beta); leave it off');
    const ba = await hostArray(bt, op);
    for (let i = 0; i < ba.length; i++) if (!Number.isFinite(ba[i]!)) throw new TensorError(op, `beta must be finite, got ${ba[i]} at index ${i}`);
    // One algorithm in three chunk sizes: 1 (the recurrence), N (parallel) or C.
    const chunk = mode === 'recurrent' ? 1 : mode === 'parallel' ? N : C;
    const logDecay = gt || lam.some((l) => l !== 1) ? logDecayTensor(q, lam, gt) : null;
    const { out, S } = deltaRule({ fq: featurizeTensor(map, q, scale), fk: featurizeTensor(map, k, scale), v, beta: bt, logDecay, s0: s0t }, map === 'taylor2' ? 1 : scale, chunk);
    const res: LinearAttentionResult = { out };
    if (opts.outputFinalState) res.finalState = S;
    return res;
  }
  if (q.device.kind === 'webgpu') {
    // Chunk kernels on the GPU (all modes agree; the chunk form is the one with a kernel).
    return linearAttentionGpu(q, k, v, s0t, gt, { map, scale, lam, normalize, C: Math.min(C, 64), outputFinalState: opts.outputFinalState ?? false });
  }
  const [qa, ka, va] = await Promise.all([hostArray(q, op), hostArray(k, op), hostArray(v, op)]);
  const BH = B * H;
  const rows = BH * N;
  const outScale = map === 'taylor2' ? 1 : scale;
  const s0 = s0t ? Float64Array.from(await hostArray(s0t, op)) : null;
  const cdims = { BH, N, F, W };
  // The float64 JS forward (recurrent and parallel modes; chunk mode without SIMD).
  const jsForward = () => {
    const fq = featurizeAll(map, qa, rows, D, scale, F, normalize && map === 'elu1');
    const fk = featurizeAll(map, ka, rows, D, scale, F, false);
    // v' = [v, 1] when normalising: the cores take v with an implicit ones column; [v, 1] itself
    // is built only for the backward.
    const vIn = Float64Array.from(va);
    // Log decay per row: log lambda_h + gate.
    const la = new Float64Array(rows);
    for (let bh = 0; bh < BH; bh++) {
      const l = Math.log(lam[bh % H]!);
      for (let t = 0; t < N; t++) la[bh * N + t] = ga ? l + ga[bh * N + t]! : l;
    }
    const { y, S } = linearCore(mode, fq, fk, vIn, la, s0, cdims, outScale, C, false, normalize);
    const out = new Float32Array(rows * Dv);
    for (let r = 0; r < rows; r++) {
      const den = normalize ? y[r * W + Dv]! : 1;
      for (let c = 0; c < Dv; c++) out[r * Dv + c] = den === 0 ? 0 : y[r * W + c]! / den;
    }
    return { fq, fk, vIn, la, y, S, out };
  };
  const w = linearWasmAvailable() ? linearKernels() : null;
  if (w) {
    // The WebAssembly kernels, streamed (cpu/linear-chunk-cpu.ts): chunk mode's forward, and every
    // mode's backward (the gradient is the same function in every mode).
    const logLam = Float64Array.from({ length: BH }, (_, bh) => Math.log(lam[bh % H]!));
    const prob = { w, map, D, Dv, F, W, normalize, featScale: scale, outScale, BH, N, C, q: qa, k: ka, v: va, logLam, gate: ga, s0: s0t ? await hostArray(s0t, op) : null };
    const forward = mode === 'chunk' ? null : (o: Float32Array, den: Float32Array | null): Float32Array => {
      const f = jsForward();
      o.set(f.out);
      if (den) for (let r = 0; r < rows; r++) den[r] = f.y[r * W + Dv]!;
      return Float32Array.from(f.S);
    };
    return linearChunkCpu(prob, { q, k, v, s0: s0t, gate: gt }, [B, H], opts.outputFinalState ?? false, forward);
  }
  const { fq, fk, vIn, la, y, S, out } = jsForward();
  const fin = Float32Array.from(S);
  const dev = q.device;
  const inputs = [q, k, v];
  if (s0t) inputs.push(s0t);
  if (gt) inputs.push(gt);
  const needGrad = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  if (!needGrad) {
    const res: LinearAttentionResult = { out: fromHost(dev, out, [B, H, N, Dv]) };
    if (opts.outputFinalState) res.finalState = fromHost(dev, fin, [B, H, F, W]);
    return res;
  }
  // Packed [out | finalState] so one custom node gets both gradients.
  const nO = out.length;
  const packedArr = new Float32Array(nO + fin.length);
  packedArr.set(out, 0);
  packedArr.set(fin, nO);
  const packed = customGrad(fromHost(dev, packedArr, [packedArr.length]), 'linearAttention', inputs, (g) => {
    const gAll = cpuArray(g, 'linearAttention backward');
    // dy through the normalisation o = y[:Dv] / y[Dv] (0 where y[Dv] is 0).
    const dy = new Float64Array(rows * W);
    for (let r = 0; r < rows; r++) {
      if (!normalize) { for (let c = 0; c < Dv; c++) dy[r * W + c] = gAll[r * Dv + c]!; continue; }
      const den = y[r * W + Dv]!;
      if (den === 0) continue;
      let dot = 0;
      for (let c = 0; c < Dv; c++) {
        const go = gAll[r * Dv + c]!;
        dy[r * W + c] = go / den;
        dot += go * y[r * W + c]!;
      }
      dy[r * W + Dv] = -dot / (den * den);
    }
    const vp = normalize ? withOnes(vIn, rows, Dv) : vIn;
    const gr = linearCoreBackward(fq, fk, vp, la, s0, S, dy, Float64Array.from(gAll.subarray(nO)), cdims, outScale, C, { dvCols: Dv, needDS0: s0t !== null });
    const dvW = gr.dv.length / rows;
    const dv = new Float32Array(rows * Dv);
    for (let r = 0; r < rows; r++) for (let c = 0; c < Dv; c++) dv[r * Dv + c] = gr.dv[r * dvW + c]!;
    const grads: Tensor[] = [
      fromHost(dev, featurizeBackwardAll(map, qa, fq, gr.dq, rows, D, scale, F), q.shape),
      fromHost(dev, featurizeBackwardAll(map, ka, fk, gr.dk, rows, D, scale, F), k.shape),
      fromHost(dev, dv, v.shape),
    ];
    if (s0t) grads.push(fromHost(dev, Float32Array.from(gr.dS0), s0t.shape));
    if (gt) grads.push(fromHost(dev, Float32Array.from(gr.da), gt.shape));
    return grads;
  });
  const res: LinearAttentionResult = { out: reshape(slice(packed, [0], [nO]), [B, H, N, Dv]) };
  if (opts.outputFinalState) res.finalState = reshape(slice(packed, [nO], [fin.length]), [B, H, F, W]);
  return res;
}
