/**
 * linearAttention(q, k, v, opts): causal linear attention in three modes (fla's shapes).
 *   recurrent: S_t = lambda S_{t-1} + phi(k_t)^T v_t, o_t = scale phi(q_t) S_t
 *   parallel:  O = ((phi(Q) phi(K)^T) . D) V with D_ts = lambda^{t-s} (s <= t)
 *   chunk:     Lightning Attention-2: intra-chunk parallel + inter-chunk state
 * normalize divides by phi(q_t) . z_t (z is carried as the last state column).
 */
import { customGrad, isGradEnabled, reshape, slice, TensorError, type Tensor } from '@attnlab/tensor';
import { featureDim, featurize, linearAttentionRefBackward, type FeatureMap } from './reference/linear.js';
import { cpuArray, fromHost, hostArray } from './tensor-io.js';
import { linearAttentionGpu } from './linear-gpu.js';

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
}

export interface LinearAttentionResult {
  /** [B, H, N, Dv] */
  out: Tensor;
  /** [B, H, F, Dv (+1)] when outputFinalState. */
  finalState?: Tensor;
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

interface LinDims {
  B: number; H: number; N: number; D: number; Dv: number; F: number; W: number;
}

/** Featurised rows phi(x) for all B*H*N rows: [rows, F] in float64. */
function featurizeAll(map: FeatureMap, x: Float32Array, rows: number, D: number, scale: number, F: number): Float64Array {
  const out = new Float64Array(rows * F);
  for (let r = 0; r < rows; r++) out.set(featurize(map, x, r * D, D, scale), r * F);
  return out;
}

/** Forward in the chosen mode; returns unnormalised y [rows, W] and the final state. */
function forwardMode(mode: string, fq: Float64Array, fk: Float64Array, vp: Float64Array, s0: Float32Array | null, lam: number[], d: LinDims, outScale: number, C: number): { y: Float64Array; S: Float64Array } {
  const { B, H, N, F, W } = d;
  const y = new Float64Array(B * H * N * W);
  const Sall = new Float64Array(B * H * F * W);
  for (let bh = 0; bh < B * H; bh++) {
    const l = lam[bh % H]!;
    const S = new Float64Array(F * W);
    if (s0) for (let i = 0; i < F * W; i++) S[i] = s0[bh * F * W + i]!;
    const row = (t: number): number => bh * N + t;
    if (mode === 'recurrent') {
      for (let t = 0; t < N; t++) {
        const r = row(t);
        for (let f = 0; f < F; f++) {
          const kf = fk[r * F + f]!;
          for (let w = 0; w < W; w++) S[f * W + w] = l * S[f * W + w]! + kf * vp[r * W + w]!;
        }
        for (let f = 0; f < F; f++) {
          const qf = fq[r * F + f]! * outScale;
          if (qf === 0) continue;
          for (let w = 0; w < W; w++) y[r * W + w]! += qf * S[f * W + w]!;
        }
      }
    } else if (mode === 'parallel') {
      const S0 = S.slice();
      for (let t = 0; t < N; t++) {
        const rt = row(t);
        for (let s = 0; s <= t; s++) {
          const rs = row(s);
          let a = 0;
          for (let f = 0; f < F; f++) a += fq[rt * F + f]! * fk[rs * F + f]!;
          a *= outScale * l ** (t - s);
          for (let w = 0; w < W; w++) y[rt * W + w]! += a * vp[rs * W + w]!;
        }
        const li = l ** (t + 1) * outScale;
        for (let f = 0; f < F; f++) {
          const qf = fq[rt * F + f]! * li;
          if (qf === 0) continue;
          for (let w = 0; w < W; w++) y[rt * W + w]! += qf * S0[f * W + w]!;
        }
      }
      // Final state in closed form.
      for (let i = 0; i < F * W; i++) S[i] = l ** N * S0[i]!;
      for (let s = 0; s < N; s++) {
        const rs = row(s);
        const ls = l ** (N - 1 - s);
        for (let f = 0; f < F; f++) {
          const kf = fk[rs * F + f]! * ls;
          for (let w = 0; w < W; w++) S[f * W + w]! += kf * vp[rs * W + w]!;
        }
      }
    } else {
      const a = new Float64Array(C * C);
      for (let t0 = 0; t0 < N; t0 += C) {
        const len = Math.min(C, N - t0);
        // Intra-chunk: decayed causal scores.
        for (let i = 0; i < len; i++) {
          const ri = row(t0 + i);
          for (let j = 0; j <= i; j++) {
            const rj = row(t0 + j);
            let dot = 0;
            for (let f = 0; f < F; f++) dot += fq[ri * F + f]! * fk[rj * F + f]!;
            a[i * C + j] = dot * l ** (i - j);
          }
        }
        for (let i = 0; i < len; i++) {
          const ri = row(t0 + i);
          const yo = ri * W;
          for (let j = 0; j <= i; j++) {
            const aij = a[i * C + j]! * outScale;
            if (aij === 0) continue;
            const vo = row(t0 + j) * W;
            for (let w = 0; w < W; w++) y[yo + w]! += aij * vp[vo + w]!;
          }
          // Inter-chunk: state before this chunk.
          const li = l ** (i + 1) * outScale;
          for (let f = 0; f < F; f++) {
            const qf = fq[ri * F + f]! * li;
            if (qf === 0) continue;
            for (let w = 0; w < W; w++) y[yo + w]! += qf * S[f * W + w]!;
          }
        }
        // State update: S = lambda^len S + sum_j lambda^{len-1-j} k_j^T v_j.
        const ll = l ** len;
        if (ll !== 1) for (let i = 0; i < F * W; i++) S[i]! *= ll;
        for (let j = 0; j < len; j++) {
          const rj = row(t0 + j);
          const lj = l ** (len - 1 - j);
          for (let f = 0; f < F; f++) {
            const kf = fk[rj * F + f]! * lj;
            if (kf === 0) continue;
            for (let w = 0; w < W; w++) S[f * W + w]! += kf * vp[rj * W + w]!;
          }
        }
      }
    }
    Sall.set(S, bh * F * W);
  }
  return { y, S: Sall };
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
  const F = featureDim(map, D);
  const W = Dv + (normalize ? 1 : 0);
  const dims: LinDims = { B, H, N, D, Dv, F, W };
  const s0t = opts.initialState ?? null;
  if (s0t) {
    const want = [B, H, F, W];
    if (s0t.rank !== 4 || s0t.shape.some((d, i) => d !== want[i])) throw new TensorError(op, `initialState must be ${fmt(want)}, got ${fmt(s0t.shape)}`);
    if (s0t.device !== q.device) throw new TensorError(op, 'initialState must be on the device of q');
  }
  if (q.device.kind === 'webgpu') {
    // Chunk kernels on the GPU (all modes agree; the chunk form is the one with a kernel).
    return linearAttentionGpu(q, k, v, s0t, { map, scale, lam, normalize, C: Math.min(C, 64), outputFinalState: opts.outputFinalState ?? false });
  }
  const [qa, ka, va] = await Promise.all([hostArray(q, op), hostArray(k, op), hostArray(v, op)]);
  const s0 = s0t ? await hostArray(s0t, op) : null;
  const rows = B * H * N;
  const fq = featurizeAll(map, qa, rows, D, scale, F);
  const fk = featurizeAll(map, ka, rows, D, scale, F);
  const vp = new Float64Array(rows * W);
  for (let r = 0; r < rows; r++) for (let w = 0; w < W; w++) vp[r * W + w] = w < Dv ? va[r * Dv + w]! : 1;
  const outScale = map === 'taylor2' ? 1 : scale;
  const { y, S } = forwardMode(mode, fq, fk, vp, s0, lam, dims, outScale, C);
  const out = new Float32Array(rows * Dv);
  for (let r = 0; r < rows; r++) {
    const den = normalize ? y[r * W + Dv]! : 1;
    for (let c = 0; c < Dv; c++) out[r * Dv + c] = den === 0 ? 0 : y[r * W + c]! / den;
  }
  const fin = Float32Array.from(S);
  const dev = q.device;
  const inputs = s0t ? [q, k, v, s0t] : [q, k, v];
  const needGrad = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  if (!needGrad) {
    const res: LinearAttentionResult = { out: fromHost(dev, out, [B, H, N, Dv]) };
    if (opts.outputFinalState) res.finalState = fromHost(dev, fin, [B, H, F, W]);
    return res;
  }
  if (dev.kind !== 'cpu') throw new TensorError(op, 'gradients on WebGPU are not wired in this build; use the CPU device for training');
  // Packed [out | finalState] so one custom node gets both gradients.
  const nO = out.length;
  const packedArr = new Float32Array(nO + fin.length);
  packedArr.set(out, 0);
  packedArr.set(fin, nO);
  const refOpts = { featureMap: map, decay: lam, normalize, scale, initialState: s0 };
  const packed = customGrad(fromHost(dev, packedArr, [packedArr.length]), 'linearAttention', inputs, (g) => {
    const ga = cpuArray(g, 'linearAttention backward');
    const gr = linearAttentionRefBackward(qa, ka, va, ga.subarray(0, nO), ga.subarray(nO), { B, H, N, D, Dv }, refOpts);
    const grads: Tensor[] = [fromHost(dev, Float32Array.from(gr.dq), q.shape), fromHost(dev, Float32Array.from(gr.dk), k.shape), fromHost(dev, Float32Array.from(gr.dv), v.shape)];
    if (s0t) grads.push(fromHost(dev, Float32Array.from(gr.dInitialState), s0t.shape));
    return grads;
  });
  const res: LinearAttentionResult = { out: reshape(slice(packed, [0], [nO]), [B, H, N, Dv]) };
  if (opts.outputFinalState) res.finalState = reshape(slice(packed, [nO], [fin.length]), [B, H, F, W]);
  return res;
}
