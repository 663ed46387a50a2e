/**
 * Float64 references: exact softmax attention, HyperAttention's estimator written over every
 * (row, column) pair as a masked sum (no block lists: an independent formulation of the same
 * estimate), and the paper's two hardness parameters.
 */
import { checkHead, type HeadShape, type HyperPlan } from './plan.js';

function scores64(q: ArrayLike<number>, k: ArrayLike<number>, i: number, s: HeadShape, scale: number): Float64Array {
  const row = new Float64Array(s.nk);
  for (let j = 0; j < s.nk; j++) {
    let dot = 0;
    for (let e = 0; e < s.d; e++) dot += q[i * s.d + e]! * k[j * s.d + e]!;
    row[j] = dot * scale;
  }
  return row;
}

/** Exact softmax(q kᵀ·scale) v in float64, [nq, dv]; `causal` aligns the last query with the last key. */
export function exactAttention64(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, s: HeadShape, scale = 1 / Math.sqrt(s.d), causal = false): Float64Array {
  const out = new Float64Array(s.nq * s.dv);
  for (let i = 0; i < s.nq; i++) {
    const row = scores64(q, k, i, s, scale);
    const last = causal ? i + s.nk - s.nq : s.nk - 1;
    let mx = -Infinity;
    for (let j = 0; j <= last; j++) mx = Math.max(mx, row[j]!);
    let den = 0;
    for (let j = 0; j <= last; j++) {
      const p = Math.exp(row[j]! - mx);
      den += p;
      for (let e = 0; e < s.dv; e++) out[i * s.dv + e] += p * v[j * s.dv + e]!;
    }
    for (let e = 0; e < s.dv; e++) out[i * s.dv + e] /= den;
  }
  return out;
}

/** The estimator in float64 for a plan: weight(i, j) = [same block] + (nk/m)·#{t: j_t = j}·[not same block]. */
export function hyperAttention64(q: Float32Array, k: Float32Array, v: Float32Array, plan: HyperPlan): Float64Array {
  const s = plan.shape;
  checkHead('hyperAttention64', q, k, v, s);
  const m = plan.samples.length;
  const count = new Float64Array(s.nk);
  for (const j of plan.samples) count[j]! += 1;
  const out = new Float64Array(s.nq * s.dv);
  for (let i = 0; i < s.nq; i++) {
    const row = scores64(q, k, i, s, plan.scale);
    const wt = new Float64Array(s.nk);
    let mx = -Infinity;
    for (let j = 0; j < s.nk; j++) {
      const same = plan.qBlock[i]! >= 0 && plan.qBlock[i] === plan.kBlock[j];
      wt[j] = same ? 1 : m > 0 ? (count[j]! * s.nk) / m : 0;
      if (wt[j]! > 0) mx = Math.max(mx, row[j]!);
    }
    let den = 0;
    for (let j = 0; j < s.nk; j++) {
      if (wt[j] === 0) continue;
      const p = wt[j]! * Math.exp(row[j]! - mx);
      den += p;
      for (let e = 0; e < s.dv; e++) out[i * s.dv + e] += p * v[j * s.dv + e]!;
    }
    if (den > 0) for (let e = 0; e < s.dv; e++) out[i * s.dv + e] /= den;
  }
  return out;
}

/** ‖a − b‖_F / ‖b‖_F. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`relativeError: ${a.length} vs ${b.length} values`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/**
 * RMS row error of an estimate over the RMS row norm of V: the scale of the paper's bound
 * ‖Ô − O‖ ≤ ε‖D⁻¹A‖‖V‖ per row. Unlike ‖Ô − O‖/‖O‖ it does not blow up when near-uniform
 * attention averages the values to almost 0.
 */
export function outputError(est: ArrayLike<number>, exact: ArrayLike<number>, v: ArrayLike<number>): number {
  if (est.length !== exact.length) throw new RangeError(`outputError: ${est.length} vs ${exact.length} values`);
  let num = 0;
  let vs = 0;
  for (let i = 0; i < exact.length; i++) num += (est[i]! - exact[i]!) ** 2;
  for (let j = 0; j < v.length; j++) vs += v[j]! ** 2;
  // Both are sums of squared row norms; divide by the row counts (est rows = nq, v rows = nk) via the ratio of lengths.
  return Math.sqrt((num / exact.length) / (vs / v.length));
}

export interface Hardness {
  /** Max over columns of the column's 2-norm in the row-normalised attention matrix D⁻¹A (between 1/√nk-ish and √nq). */
  maxColumnNorm: number;
  /**
   * Ratio of the largest to the smallest row norm of the unnormalised A after removing the
   * block-diagonal (LSH) entries of the plan, rows rescaled by a common factor (the ratio is scale-free).
   */
  rowNormRatio: number;
}

/** The paper's two fine-grained parameters for one head and a plan's LSH blocks (float64, O(nq·nk)). */
export function hardness(q: Float32Array, k: Float32Array, plan: HyperPlan): Hardness {
  const s = plan.shape;
  const col = new Float64Array(s.nk);
  const rowLogNorm = new Float64Array(s.nq);
  for (let i = 0; i < s.nq; i++) {
    const row = scores64(q, k, i, s, plan.scale);
    let mx = -Infinity;
    for (let j = 0; j < s.nk; j++) mx = Math.max(mx, row[j]!);
    let den = 0;
    for (let j = 0; j < s.nk; j++) den += Math.exp(row[j]! - mx);
    let rest = 0;
    for (let j = 0; j < s.nk; j++) {
      const p = Math.exp(row[j]! - mx);
      col[j]! += (p / den) ** 2;
      if (!(plan.qBlock[i]! >= 0 && plan.qBlock[i] === plan.kBlock[j])) rest += p * p;
    }
    rowLogNorm[i] = mx + 0.5 * Math.log(rest);
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of rowLogNorm) if (Number.isFinite(x)) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  return { maxColumnNorm: Math.sqrt(Math.max(...col)), rowNormRatio: Math.exp(hi - lo) };
}

/**
 * Causal HyperAttention in float64 from its layout: the weight of every (row, key) pair is written
 * into one nq×nk matrix (1 on the exact leaves' causal entries, the plan's block/sample weights in
 * the off-diagonal blocks, 0 elsewhere) and each row is Σ_j w_ij e^{s_ij} v_j / Σ_j w_ij e^{s_ij}.
 */
export function causalHyperAttention64(q: Float32Array, k: Float32Array, v: Float32Array, s: HeadShape, layout: { offDiagonal: { r0: number; c0: number; plan: HyperPlan }[]; leaves: { start: number; size: number }[] }, scale = 1 / Math.sqrt(s.d)): Float64Array {
  const W = new Float64Array(s.nq * s.nk);
  for (const { start, size } of layout.leaves) for (let i = 0; i < size; i++) for (let j = 0; j <= i; j++) W[(start + i) * s.nk + start + j] = 1;
  for (const { r0, c0, plan } of layout.offDiagonal) {
    const p = plan.shape;
    const m = plan.samples.length;
    const count = new Float64Array(p.nk);
    for (const j of plan.samples) count[j]! += 1;
    for (let i = 0; i < p.nq; i++) for (let j = 0; j < p.nk; j++) {
      const same = plan.qBlock[i]! >= 0 && plan.qBlock[i] === plan.kBlock[j];
      W[(r0 + i) * s.nk + c0 + j] = same ? 1 : m > 0 ? (count[j]! * p.nk) / m : 0;
    }
  }
  const out = new Float64Array(s.nq * s.dv);
  for (let i = 0; i < s.nq; i++) {
    const row = scores64(q, k, i, s, scale);
    let mx = -Infinity;
    for (let j = 0; j < s.nk; j++) if (W[i * s.nk + j]! > 0) mx = Math.max(mx, row[j]!);
    let den = 0;
    for (let j = 0; j < s.nk; j++) {
      const w = W[i * s.nk + j]!;
      if (w === 0) continue;
      const p = w * Math.exp(row[j]! - mx);
      den += p;
      for (let e = 0; e < s.dv; e++) out[i * s.dv + e] += p * v[j * s.dv + e]!;
    }
    if (den > 0) for (let e = 0; e < s.dv; e++) out[i * s.dv + e] /= den;
  }
  return out;
}
