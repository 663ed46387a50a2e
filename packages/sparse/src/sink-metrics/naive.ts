/**
 * Float64 reference of the sink statistics (H7), on plain arrays: what the device path in
 * metrics.ts must reproduce.
 */

export interface NaiveSinkOptions {
  /** Attention above this counts as "on the sink" (H7's ε). */
  eps: number;
  /** Share of queries that must exceed ε for the head to count as a sink head. */
  queryShare: number;
  /** The key examined (0: the first token). */
  sinkIndex: number;
  /** First query counted (queries before it see only the first tokens and say nothing). */
  fromQuery: number;
}

/**
 * One layer's pattern [B, H, N, N] (row-major) → per head: mean mass on the sink key over the
 * counted queries, and the share of those queries that put more than ε on it.
 */
export function naiveSinkStats(pattern: ArrayLike<number>, dims: { B: number; H: number; N: number }, o: NaiveSinkOptions): { mass: number[]; share: number[]; sink: boolean[] } {
  const { B, H, N } = dims;
  const mass: number[] = [];
  const share: number[] = [];
  for (let h = 0; h < H; h++) {
    let m = 0;
    let s = 0;
    let n = 0;
    for (let b = 0; b < B; b++) {
      for (let i = o.fromQuery; i < N; i++) {
        const p = Number(pattern[((b * H + h) * N + i) * N + o.sinkIndex]);
        m += p;
        if (p > o.eps) s++;
        n++;
      }
    }
    mass.push(n ? m / n : Number.NaN);
    share.push(n ? s / n : Number.NaN);
  }
  return { mass, share, sink: share.map((x) => x >= o.queryShare) };
}

/** Mean L2 norm of value vectors [B, N, H, D] at the sink index and at every other index, per head. */
export function naiveValueNorms(v: ArrayLike<number>, dims: { B: number; N: number; H: number; D: number }, sinkIndex: number): { sink: number[]; others: number[] } {
  const { B, N, H, D } = dims;
  const sink: number[] = [];
  const others: number[] = [];
  for (let h = 0; h < H; h++) {
    let s = 0;
    let o = 0;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < N; i++) {
        let q = 0;
        for (let d = 0; d < D; d++) {
          const x = Number(v[((b * N + i) * H + h) * D + d]);
          q += x * x;
        }
        if (i === sinkIndex) s += Math.sqrt(q);
        else o += Math.sqrt(q);
      }
    }
    sink.push(s / B);
    others.push(N > 1 ? o / (B * (N - 1)) : Number.NaN);
  }
  return { sink, others };
}
