/**
 * S2 Routing Transformer's routing: queries and keys are normalised to unit length and assigned to
 * the nearest of k centroids (k ≈ √n); a query attends causally to the keys in its own cluster
 * (and to itself). Centroids follow online k-means: each pass moves a centroid towards the mean of
 * the vectors assigned to it by an exponential moving average (decay λ) and renormalises it. The
 * `compute` counter counts dot products of length d the method needs, assignment (every vector
 * against every centroid, every pass) plus the within-cluster scores: with balanced clusters of
 * √n this is Θ(n^1.5·d), the paper's O(n^1.5 d) against dense attention's n²/2·d.
 */
import { TensorError } from '@attnlab/tensor';
import { rng as mulberry } from '../common/random.js';

export interface RoutingOptions {
  /** Number of centroids; default ⌈√n⌉. */
  clusters?: number;
  /** Online k-means passes over the sequence. Default 4. */
  iters?: number;
  /** EMA decay λ of the centroid update. Default 0.5. */
  decay?: number;
  seed?: number;
  /** Centroids to start from [clusters, d] (a router carried across calls); default drawn from the vectors. */
  centroids?: Float64Array;
}

export interface Routing {
  /** Cluster of each query [nq] and key [nk]. */
  qCluster: Int32Array;
  kCluster: Int32Array;
  centroids: Float64Array;
  clusters: number;
  /** Dot products of length d: assignment, attention scores, and their sum. */
  compute: { assign: number; attend: number; total: number };
}

function unitRows(x: ArrayLike<number>, n: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let e = 0; e < d; e++) s += x[i * d + e]! ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let e = 0; e < d; e++) out[i * d + e] = x[i * d + e]! * inv;
  }
  return out;
}

function assign(x: Float64Array, n: number, d: number, c: Float64Array, kc: number, out: Int32Array): void {
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bv = -Infinity;
    for (let j = 0; j < kc; j++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += x[i * d + e]! * c[j * d + e]!;
      if (s > bv) {
        bv = s;
        best = j;
      }
    }
    out[i] = best;
  }
}

/** Route one head's q [nq, d] and k [nk, d] (end-aligned causal: query i sits at key position i + nk − nq). */
export function kmeansRouting(q: ArrayLike<number>, k: ArrayLike<number>, nq: number, nk: number, d: number, o: RoutingOptions = {}): Routing {
  const kc = o.clusters ?? Math.ceil(Math.sqrt(nk));
  const iters = o.iters ?? 4;
  const decay = o.decay ?? 0.5;
  if (!Number.isInteger(kc) || kc < 1) throw new TensorError('kmeansRouting', `clusters must be a positive integer, got ${String(kc)}`);
  if (!Number.isInteger(iters) || iters < 0) throw new TensorError('kmeansRouting', `iters must be a non-negative integer, got ${String(iters)}`);
  if (!(decay >= 0 && decay < 1)) throw new TensorError('kmeansRouting', `decay must be in [0, 1), got ${decay}`);
  const qu = unitRows(q, nq, d);
  const ku = unitRows(k, nk, d);
  let c: Float64Array;
  if (o.centroids) {
    if (o.centroids.length !== kc * d) throw new TensorError('kmeansRouting', `centroids has ${o.centroids.length} values, expected clusters·d = ${kc}·${d}`);
    c = Float64Array.from(o.centroids);
  } else {
    // Start from distinct keys drawn with the seed (k-means' usual initialisation).
    const r = mulberry(o.seed ?? 0);
    c = new Float64Array(kc * d);
    const picked = new Set<number>();
    for (let j = 0; j < kc; j++) {
      let i = Math.floor(r() * nk);
      for (let t = 0; t < 8 && picked.has(i); t++) i = Math.floor(r() * nk);
      picked.add(i);
      const src = ku.subarray(i * d, i * d + d);
      const noise = Array.from({ length: d }, () => r() - 0.5);
      for (let e = 0; e < d; e++) c[j * d + e] = src[e]! + 1e-3 * noise[e]!;
    }
  }
  const qCluster = new Int32Array(nq);
  const kCluster = new Int32Array(nk);
  let assignDots = 0;
  for (let it = 0; it < iters; it++) {
    assign(qu, nq, d, c, kc, qCluster);
    assign(ku, nk, d, c, kc, kCluster);
    assignDots += (nq + nk) * kc;
    const sum = new Float64Array(kc * d);
    const cnt = new Float64Array(kc);
    for (const [x, cl, n] of [[qu, qCluster, nq], [ku, kCluster, nk]] as const) {
      for (let i = 0; i < n; i++) {
        cnt[cl[i]!]!++;
        for (let e = 0; e < d; e++) sum[cl[i]! * d + e] += x[i * d + e]!;
      }
    }
    for (let j = 0; j < kc; j++) {
      if (!cnt[j]) continue;
      let s = 0;
      for (let e = 0; e < d; e++) {
        c[j * d + e] = decay * c[j * d + e]! + (1 - decay) * (sum[j * d + e]! / cnt[j]!);
        s += c[j * d + e]! ** 2;
      }
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      for (let e = 0; e < d; e++) c[j * d + e]! *= inv;
    }
  }
  assign(qu, nq, d, c, kc, qCluster);
  assign(ku, nk, d, c, kc, kCluster);
  assignDots += (nq + nk) * kc;
  // Within-cluster causal scores: per cluster, the keys before each of its queries (plus the query's own key).
  const off = nk - nq;
  const seen = new Int32Array(kc);
  let attend = 0;
  let j = 0;
  for (let i = 0; i < nq; i++) {
    const pos = i + off;
    for (; j <= Math.min(nk - 1, pos); j++) seen[kCluster[j]!]!++;
    const self = pos >= 0 && pos < nk && kCluster[pos] !== qCluster[i] ? 1 : 0;
    attend += seen[qCluster[i]!]! + self;
  }
  return { qCluster, kCluster, centroids: c, clusters: kc, compute: { assign: assignDots * d, attend: attend * d, total: (assignDots + attend) * d } };
}
