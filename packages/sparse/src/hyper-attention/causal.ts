/**
 * Causal HyperAttention by the paper's block decomposition: the causal n×n matrix splits into two
 * causal halves on the diagonal (recursed) and one unmasked off-diagonal block (rows h..n, keys
 * 0..h), which the non-causal estimator handles. Each row's parts are merged through their
 * log-normalisers, so a row's output is Σ_j w_ij e^{s_ij} v_j / Σ_j w_ij e^{s_ij} over all its
 * parts. Below `leafSize` rows, a diagonal block is computed exactly.
 */
import { TensorError } from '@attnlab/tensor';
import { hyperAttentionWithPlan } from './estimator.js';
import { checkHead, hyperPlan, type HeadShape, type HyperOptions, type HyperPlan } from './plan.js';

export interface CausalHyperOptions extends HyperOptions {
  /** Diagonal blocks of at most this many rows are exact. Default 256. */
  leafSize?: number;
}

/** Where the estimator ran (rows r0.., keys c0.. of the full matrix) and where exact causal blocks are. */
export interface CausalLayout {
  offDiagonal: { r0: number; c0: number; plan: HyperPlan }[];
  leaves: { start: number; size: number }[];
}

function exactCausalBlock(q: Float32Array, k: Float32Array, v: Float32Array, n: number, d: number, dv: number, scale: number): { out: Float32Array; lse: Float32Array } {
  const out = new Float32Array(n * dv);
  const lse = new Float32Array(n);
  const sc = new Float64Array(n);
  const acc = new Float64Array(dv);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j <= i; j++) {
      let dot = 0;
      for (let e = 0; e < d; e++) dot += q[i * d + e]! * k[j * d + e]!;
      sc[j] = dot * scale;
      if (sc[j]! > mx) mx = sc[j]!;
    }
    acc.fill(0);
    let den = 0;
    for (let j = 0; j <= i; j++) {
      const p = Math.exp(sc[j]! - mx);
      den += p;
      for (let e = 0; e < dv; e++) acc[e] += p * v[j * dv + e]!;
    }
    for (let e = 0; e < dv; e++) out[i * dv + e] = acc[e]! / den;
    lse[i] = mx + Math.log(den);
  }
  return { out, lse };
}

/** Causal HyperAttention for one head with nq = nk = n: out [n, dv], lse [n] and the layout used. */
export function causalHyperAttention(q: Float32Array, k: Float32Array, v: Float32Array, shape: HeadShape, o: CausalHyperOptions = {}): { out: Float32Array; lse: Float32Array; layout: CausalLayout } {
  checkHead('causalHyperAttention', q, k, v, shape);
  if (shape.nq !== shape.nk) throw new TensorError('causalHyperAttention', `needs nq = nk, got nq = ${shape.nq}, nk = ${shape.nk}`);
  const leafSize = o.leafSize ?? 256;
  if (!Number.isInteger(leafSize) || leafSize < 1) throw new TensorError('causalHyperAttention', `leafSize must be a positive integer, got ${leafSize}`);
  const { d, dv } = shape;
  const scale = o.scale ?? 1 / Math.sqrt(d);
  const layout: CausalLayout = { offDiagonal: [], leaves: [] };
  let node = 0;
  const rec = (start: number, n: number): { out: Float32Array; lse: Float32Array } => {
    const qs = q.subarray(start * d, (start + n) * d);
    const ks = k.subarray(start * d, (start + n) * d);
    const vs = v.subarray(start * dv, (start + n) * dv);
    if (n <= leafSize) {
      layout.leaves.push({ start, size: n });
      return exactCausalBlock(qs, ks, vs, n, d, dv, scale);
    }
    const h = n >> 1;
    const top = rec(start, h);
    const diag = rec(start + h, n - h);
    // Each off-diagonal block draws its own buckets and samples (seed offset by the node index).
    const qb = qs.subarray(h * d);
    const plan = hyperPlan(qb, ks.subarray(0, h * d), vs.subarray(0, h * dv), { nq: n - h, nk: h, d, dv }, { ...o, scale, seed: (o.seed ?? 0) * 7919 + ++node });
    layout.offDiagonal.push({ r0: start + h, c0: start, plan });
    const off = hyperAttentionWithPlan(qb, ks.subarray(0, h * d), vs.subarray(0, h * dv), plan);
    const out = new Float32Array(n * dv);
    const lse = new Float32Array(n);
    out.set(top.out);
    lse.set(top.lse);
    for (let i = 0; i < n - h; i++) {
      const a = diag.lse[i]!;
      const b = off.lse[i]!;
      const m = Math.max(a, b);
      const wa = Math.exp(a - m);
      const wb = b === -Infinity ? 0 : Math.exp(b - m);
      for (let e = 0; e < dv; e++) out[(h + i) * dv + e] = (wa * diag.out[i * dv + e]! + wb * off.out[i * dv + e]!) / (wa + wb);
      lse[h + i] = m + Math.log(wa + wb);
    }
    return { out, lse };
  };
  const r = rec(0, shape.nq);
  return { ...r, layout };
}
