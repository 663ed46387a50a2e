/**
 * HyperAttention's estimator, fast path (non-causal, one head, plain float arrays on the CPU: a
 * sampling algorithm whose cost is the O(n·(b + m)·d) gathers, not a dense kernel). Row i:
 *   D_i = Σ_{j in block(i)} e^{s_ij} + (nk/m) Σ_{t} [sample t not in block(i)] e^{s_i,j_t}
 * and the same with v_j for the numerator; out_i = N_i / D_i. Each part is unbiased, so the
 * error of the ratio falls like 1/√m unless a few columns carry most of the mass (the paper's
 * two hardness parameters).
 */
import { hyperPlan, type HeadShape, type HyperOptions, type HyperPlan } from './plan.js';

/** out [nq, dv] and the log of each row's estimated normaliser, for a given plan. */
export function hyperAttentionWithPlan(q: Float32Array, k: Float32Array, v: Float32Array, plan: HyperPlan): { out: Float32Array; lse: Float32Array } {
  const { nq, nk, d, dv } = plan.shape;
  const m = plan.samples.length;
  const w = m > 0 ? nk / m : 0;
  const out = new Float32Array(nq * dv);
  const lse = new Float32Array(nq);
  let cap = 0; // the largest block (a loop: spreading one argument per block overflows the stack for tiny blocks)
  for (let b = 0; b + 1 < plan.blockStart.length; b++) cap = Math.max(cap, plan.blockStart[b + 1]! - plan.blockStart[b]!);
  const cols = new Int32Array(cap + m);
  const wts = new Float64Array(cap + m);
  const sc = new Float64Array(cap + m);
  const acc = new Float64Array(dv);
  for (let i = 0; i < nq; i++) {
    const b = plan.qBlock[i]!;
    let n = 0;
    if (b >= 0) {
      for (let p = plan.blockStart[b]!; p < plan.blockStart[b + 1]!; p++) {
        cols[n] = plan.blockKeys[p]!;
        wts[n++] = 1;
      }
    }
    for (let t = 0; t < m; t++) {
      const j = plan.samples[t]!;
      if (b >= 0 && plan.kBlock[j] === b) continue;
      cols[n] = j;
      wts[n++] = w;
    }
    let mx = -Infinity;
    const qi = i * d;
    for (let c = 0; c < n; c++) {
      const kj = cols[c]! * d;
      let s = 0;
      for (let e = 0; e < d; e++) s += q[qi + e]! * k[kj + e]!;
      s *= plan.scale;
      sc[c] = s;
      if (s > mx) mx = s;
    }
    acc.fill(0);
    let den = 0;
    for (let c = 0; c < n; c++) {
      const p = wts[c]! * Math.exp(sc[c]! - mx);
      den += p;
      const vj = cols[c]! * dv;
      for (let e = 0; e < dv; e++) acc[e] += p * v[vj + e]!;
    }
    // A row whose block is empty and whose samples all fell in its block has no estimate: 0.
    if (den > 0) for (let e = 0; e < dv; e++) out[i * dv + e] = acc[e]! / den;
    lse[i] = den > 0 ? mx + Math.log(den) : -Infinity;
  }
  return { out, lse };
}

/** HyperAttention for one head (plan drawn from the options' seed). */
export function hyperAttention(q: Float32Array, k: Float32Array, v: Float32Array, shape: HeadShape, o: HyperOptions = {}): { out: Float32Array; lse: Float32Array; plan: HyperPlan } {
  const plan = hyperPlan(q, k, v, shape, o);
  return { ...hyperAttentionWithPlan(q, k, v, plan), plan };
}
