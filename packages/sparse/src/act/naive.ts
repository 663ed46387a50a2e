/**
 * Float64 reference of ACT's calibrated attention (H6) for one (batch row, head): softmax
 * probabilities, then each listed sink column visible to the query is scaled by β and the
 * removed mass goes to the other visible keys in proportion to their weight.
 */

export function naiveActAttention(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>,
  dims: { Nq: number; Nk: number; D: number; Dv: number },
  o: { scale: number; beta: number; sinks: readonly number[]; causal: boolean },
): { out: Float64Array; probs: Float64Array } {
  const { Nq, Nk, D, Dv } = dims;
  const off = Nk - Nq;
  const out = new Float64Array(Nq * Dv);
  const probs = new Float64Array(Nq * Nk);
  const sink = new Set(o.sinks);
  for (let i = 0; i < Nq; i++) {
    const vis = (j: number): boolean => !o.causal || j <= i + off;
    const s: number[] = [];
    for (let j = 0; j < Nk; j++) {
      let d = 0;
      for (let c = 0; c < D; c++) d += Number(q[i * D + c]) * Number(k[j * D + c]);
      s.push(vis(j) ? d * o.scale : -Infinity);
    }
    const m = Math.max(...s);
    const e = s.map((x) => (x === -Infinity ? 0 : Math.exp(x - m)));
    const z = e.reduce((a, b) => a + b, 0);
    const p = e.map((x) => x / z);
    let P = 0;
    for (let j = 0; j < Nk; j++) if (sink.has(j) && vis(j)) P += p[j]!;
    const rest = 1 - P > 1e-6 ? (1 - o.beta * P) / (1 - P) : 1;
    for (let j = 0; j < Nk; j++) {
      const pj = sink.has(j) && vis(j) ? o.beta * p[j]! : rest * p[j]!;
      probs[i * Nk + j] = pj;
      for (let c = 0; c < Dv; c++) out[i * Dv + c] += pj * Number(v[j * Dv + c]);
    }
  }
  return { out, probs };
}

/**
 * Non-initial sink columns of one head's pattern [N, N] (float64): key j ≥ from whose mean
 * attention over the queries after it exceeds α / N, needing at least minQueries such queries.
 */
export function naiveDetectSinks(p: ArrayLike<number>, N: number, o: { alpha: number; from: number; minQueries: number }): number[] {
  const out: number[] = [];
  for (let j = o.from; j < N - o.minQueries + 1; j++) {
    let s = 0;
    for (let i = j; i < N; i++) s += Number(p[i * N + j]);
    if (s / (N - j) > o.alpha / N) out.push(j);
  }
  return out;
}
