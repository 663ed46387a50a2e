/**
 * linearAttention on WebGPU: feature maps as tensor ops (so their gradients come from autograd),
 * then the chunk kernels on featurised inputs. The core's backward reuses the same kernels:
 *   dphi_q = LA(q=dy, k=v', v=phi_k, S0=S0^T)                          forward time
 *   dphi_k = LA_rev(q=v', k=dy, v=phi_q, S0=dS_fin^T / scale)            reverse time
 *   dv'    = LA_rev(q=phi_k, k=phi_q, v=dy, S0=dS_fin / scale), dS0 = a_0 scale S_final(that run)
 */
import {
  abs, add, addScalar, concat, sum, customGrad, elu, isGradEnabled, less, mul, mulScalar, noGrad, ones, relu, reshape, tensor, transpose, zeros, slice, equal, greater, max, exp, sub, where, reciprocal, detach, TensorError, type Tensor,
} from '@attnlab/tensor';
import { allocTensor, bufferOfTensor, gpuBackend } from './gpu/bridge.js';
import { linearChunkGpu, perRowLogDecay } from './gpu/linear.js';
import type { FeatureMap } from './reference/linear.js';

export function featurizeTensor(map: FeatureMap, x: Tensor, scale: number): Tensor {
  switch (map) {
    case 'identity':
      return x;
    case 'relu':
      return relu(x);
    case 'elu1':
      return addScalar(elu(x), 1);
    case 'taylor2': {
      const [B, H, N, D] = x.shape as [number, number, number, number];
      const outer = mul(reshape(x, [B, H, N, D, 1]), reshape(x, [B, H, N, 1, D]));
      return concat([ones([B, H, N, 1], { device: x.device }), mulScalar(x, Math.sqrt(scale)), mulScalar(reshape(outer, [B, H, N, D * D]), scale / Math.SQRT2)], 3);
    }
  }
}

interface CoreOpts {
  outScale: number;
  C: number;
}

/**
 * Run LA on tensors [B,H,N,F] x2, [B,H,N,W], S0 [B,H,F,W] | null, log decays A [B,H,N]
 * -> y [B,H,N,W], S [B,H,F,W].
 */
function runCore(fq: Tensor, fk: Tensor, vp: Tensor, s0: Tensor | null, A: Tensor, o: CoreOpts, reverse: boolean): { y: Tensor; S: Tensor } {
  const dev = fq.device;
  const be = gpuBackend(dev, 'linearAttention');
  const [B, H, N, F] = fq.shape as [number, number, number, number];
  const W = vp.shape[3]!;
  const y = allocTensor(dev, be, [B, H, N, W]);
  const S = allocTensor(dev, be, [B, H, F, W]);
  const bufs = [fq, fk, vp, A].map((t) => bufferOfTensor(be, t, 'linearAttention')) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
  const s0b = s0 ? bufferOfTensor(be, s0, 'linearAttention') : null;
  be.flush();
  linearChunkGpu(be.gpu, bufs[0], bufs[1], bufs[2], s0b, { BH: B * H, H, N, F, W }, { decay: bufs[3], scale: o.outScale, chunkSize: o.C, reverse }, { y: y.buf, finalState: S.buf });
  return { y: y.t, S: S.t };
}

/** sum_{t' >= t} x_t' along N for x [B, H, N]: the core itself with q = k = 1, v = x, no decay, reverse time. */
function reverseCumsum(x: Tensor, C: number): Tensor {
  const [B, H, N] = x.shape as [number, number, number];
  const one = ones([B, H, N, 1], { device: x.device });
  const r = runCore(one, one, reshape(x, [B, H, N, 1]), null, zeros([B, H, N], { device: x.device }), { outScale: 1, C }, true);
  r.S.dispose();
  return reshape(r.y, [B, H, N]);
}

/**
 * The differentiable core: y and the final state from featurised inputs and log decays A.
 * Backward: the same kernels on (dy, v, phi_k) forward in time and on (v, dy, phi_q), (phi_k, phi_q, dy)
 * in reverse time; dA from dG_t = phi_q . dphi_q - phi_k . dphi_k (+ <dS, S> at the last row), summed
 * from t to the end.
 */
export function linearCoreGpu(fq: Tensor, fk: Tensor, vp: Tensor, s0: Tensor | null, A: Tensor, o: CoreOpts): { y: Tensor; S: Tensor } {
  const { y, S } = runCore(fq, fk, vp, s0, A, o, false);
  const inputs = s0 ? [fq, fk, vp, A, s0] : [fq, fk, vp, A];
  if (!(isGradEnabled() && inputs.some((t) => t.requiresGrad))) return { y, S };
  const [B, H, N] = fq.shape as [number, number, number, number];
  const dev = fq.device;
  const backward = (dy: Tensor | null, dS: Tensor | null): (Tensor | null)[] => {
    const dyT = dy ?? zeros(y.shape, { device: dev });
    const initRev = dS ? mulScalar(dS, 1 / o.outScale) : null;
    const dfq = runCore(dyT, vp, fk, s0 ? transpose(s0, -2, -1) : null, A, o, false).y;
    const dfk = runCore(vp, dyT, fq, initRev ? transpose(initRev, -2, -1) : null, A, o, true).y;
    const rv = runCore(fk, fq, dyT, initRev, A, o, true);
    let dA: Tensor | null = null;
    if (A.requiresGrad) {
      let dG = sub(sum(mul(fq, dfq), [3]), sum(mul(fk, dfk), [3]));
      if (dS) {
        const last = reshape(sum(mul(dS, S), [2, 3]), [B, H, 1]);
        dG = add(dG, N === 1 ? last : concat([zeros([B, H, N - 1], { device: dev }), last], 2));
      }
      dA = reverseCumsum(dG, o.C);
    }
    const grads: (Tensor | null)[] = [dfq, dfk, rv.y, dA];
    // dS0 = e^{a_0} scale S_final(reverse run).
    if (s0) grads.push(mulScalar(mul(rv.S, reshape(exp(slice(A, [0, 0, 0], [B, H, 1])), [B, H, 1, 1])), o.outScale));
    else rv.S.dispose();
    return grads;
  };
  return {
    y: customGrad(y, 'linearAttentionCore', inputs, (g) => backward(g, null)),
    S: customGrad(S, 'linearAttentionState', inputs, (g) => backward(null, g)),
  };
}

/**
 * phi(q) rows for elu1 when normalising, divided by exp(max(q_row, 0)) where the row has no positive
 * entry: the output is invariant to a positive factor on phi(q_t), and without it a row like
 * q = -100 underflows to phi = 0 in f32 (normaliser 0, output 0) where float64 averages the values.
 */
function elu1QueryScaled(q: Tensor): Tensor {
  const m = max(q, [3], true);
  return where(greater(m, 0), addScalar(elu(q), 1), exp(sub(q, m)));
}

/**
 * num / den with 0 where den is 0 (a relu row with no positive feature), as on the CPU. The
 * reciprocal runs on a den with those zeros replaced by 1, so no Infinity reaches autograd
 * (0 * Infinity would turn the gradients of k and v into NaN).
 */
function safeNormalize(num: Tensor, den: Tensor): Tensor {
  const zero = equal(den, 0);
  // Both divided by a constant c = den first: the same forward, and the backward never forms
  // 1/den^2, which overflows f32 (NaN gradients) once den < 1e-19 (keys decayed by a gate of -70).
  const rc = detach(reciprocal(where(zero, 1, den)));
  return mul(mul(num, rc), where(zero, 0, reciprocal(where(zero, 1, mul(den, rc)))));
}

/** Log decay per row [B, H, N] on q's device: log lambda_h (+ gate). */
export function logDecayTensor(q: Tensor, lam: number[], gate: Tensor | null): Tensor {
  const [B, H, N] = q.shape as [number, number, number, number];
  const base = tensor(perRowLogDecay(lam, B * H, H, N), [B, H, N], { device: q.device });
  return gate ? add(gate, base) : base;
}

/**
 * A normaliser under 2^-108 (about e^-75) of the row's undecayed overlap: the float32 chunk kernels hold such decayed
 * keys near or below float32's smallest normal. Measured on SwiftShader (relu rows, N 19..200): every row off by more
 * than 1e-4 had a ratio below e^-78.7 (0 from about e^-88); rows down to e^-73 were exact to 2e-6.
 */
const UNDERFLOW = 2 ** -108;

/**
 * Refuses, naming the first row, a normalised call with a row whose normaliser underflowed in the float32 chunk kernels:
 * such a row meets (almost) only keys decayed by about e^-75 or more, which float32 states hold near or below their
 * smallest normal, so the output would silently be 0 (or inexact) where float64 averages those keys. The undecayed overlap
 * |phi(q_t)| . (|z0| + sum_{s<=t} |phi(k_s)|) is the same core with no decay on |phi| (one W = 1 dispatch); the check
 * reads back one count, and runs only when the decays can reach that far (a gate, or lambda^N below 2^-76).
 */
async function refuseUnderflowedRows(fq: Tensor, fk: Tensor, s0: Tensor | null, den: Tensor, outScale: number, C: number, Dv: number): Promise<void> {
  const [B, H, N] = fq.shape as [number, number, number, number];
  const bad = noGrad(() => {
    const z0 = s0 ? abs(slice(s0, [0, 0, 0, Dv], [B, H, s0.shape[2]!, 1])) : null;
    const u = runCore(abs(fq), abs(fk), ones([B, H, N, 1], { device: fq.device }), z0, zeros([B, H, N], { device: fq.device }), { outScale: 1, C }, false);
    u.S.dispose();
    const flagged = where(greater(u.y, 0), where(less(abs(den), mulScalar(u.y, UNDERFLOW * Math.abs(outScale))), 1, 0), 0);
    return reshape(flagged, [B * H * N]);
  });
  const flags = (await bad.data()) as Float32Array;
  bad.dispose();
  const first = flags.findIndex((x) => x > 0);
  if (first < 0) return;
  const count = flags.reduce((a, x) => a + (x > 0 ? 1 : 0), 0);
  const bh = Math.floor(first / N);
  throw new TensorError('linearAttention', `normalised row ${first % N} of sequence ${bh} (batch ${Math.floor(bh / H)}, head ${bh % H})${count > 1 ? ` and ${count - 1} more` : ''} meets (almost) only keys decayed by about e^-75 or more: its normaliser underflows in WebGPU's float32 chunk kernels, which would return 0 where float64 averages those keys. Run it on the CPU device (such rows are recomputed exactly there), or clamp the gate (e.g. >= -20)`);
}

export async function linearAttentionGpu(q: Tensor, k: Tensor, v: Tensor, s0: Tensor | null, gate: Tensor | null, o: {
  map: FeatureMap; scale: number; lam: number[]; normalize: boolean; C: number; outputFinalState: boolean;
}): Promise<{ out: Tensor; finalState?: Tensor }> {
  const [B, H, N] = q.shape as [number, number, number, number];
  const Dv = v.shape[3]!;
  const fq = o.normalize && o.map === 'elu1' ? elu1QueryScaled(q) : featurizeTensor(o.map, q, o.scale);
  const fk = featurizeTensor(o.map, k, o.scale);
  const vp = o.normalize ? concat([v, ones([B, H, N, 1], { device: v.device })], 3) : v;
  const A = logDecayTensor(q, o.lam, gate);
  const { y, S } = linearCoreGpu(fq, fk, vp, s0, A, { outScale: o.map === 'taylor2' ? 1 : o.scale, C: o.C });
  const den = o.normalize ? slice(y, [0, 0, 0, Dv], [B, H, N, 1]) : null;
  if (den && (gate || o.lam.some((l) => N * Math.log(l) < Math.log(UNDERFLOW)))) {
    try {
      await refuseUnderflowedRows(fq, fk, s0, den, o.map === 'taylor2' ? 1 : o.scale, o.C, Dv);
    } catch (e) {
      for (const t of [y, S]) t.dispose();
      throw e;
    }
  }
  const out = den ? safeNormalize(slice(y, [0, 0, 0, 0], [B, H, N, Dv]), den) : y;
  const res: { out: Tensor; finalState?: Tensor } = { out };
  if (o.outputFinalState) res.finalState = S;
  return res;
}
