/**
 * The Pavlovian capacity analysis: linear attention as a Hebbian CS -> US memory,
 * S = sum_i phi(k_i) v_i^T, read out as phi(q)^T S. N pairs are written through the library's own
 * linear attention (@attnlab/attention linearAttention, unnormalised): the sequence is the N keys
 * with their values, then the N keys again with zero values, so row N + j reads the memory with key
 * j after every write. A retrieved vector counts as recalled when its nearest value-codebook entry
 * (by dot product) is the one stored with key j. Keys: Gaussian, |k| ~ 1; values: M random unit
 * vectors in d_v dims. No training: this measures the memory itself. With the identity map the
 * crosstalk per wrong code has variance ~ (N - 1)/d_k (1/M + 1/d_v), so the knee in N (recall
 * crossing a threshold) grows linearly in d_k, the "O(d_k) associations" of the paper.
 */
import { linearAttention } from '@attnlab/attention';
import { TensorError, cpuDevice, stats, tensor, type Device } from '@attnlab/tensor';
import { rng as mulberry, randnArray } from '../common/numeric.js';

export type MemoryFeatureMap = 'identity' | 'elu1' | 'relu';

export interface RecallOptions {
  dk: number;
  /** Pairs stored. */
  n: number;
  /** Value codebook size M (default 64) and value dim d_v (default 64). */
  codebook?: number;
  dv?: number;
  /** Feature map of the memory (default identity: plain outer-product Hebbian memory). */
  featureMap?: MemoryFeatureMap;
  /** At least this many queries are scored (more trials for small n; default 512). */
  minQueries?: number;
  seed?: number;
  device?: Device;
}

export interface RecallResult {
  recall: number;
  queries: number;
  /** Retrieved vectors of the first trial [n, dv] (for checks against a float64 reference). */
  firstTrial: { keys: Float32Array; values: Float32Array; codes: Int32Array; codebook: Float32Array; retrieved: Float32Array };
}

function unitRows(r: () => number, rows: number, d: number): Float32Array {
  const x = randnArray(r, rows * d);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += x[i * d + c]! ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let c = 0; c < d; c++) x[i * d + c]! *= inv;
  }
  return x;
}

function check(o: RecallOptions): void {
  for (const [name, v] of [['dk', o.dk], ['n', o.n], ['codebook', o.codebook ?? 64], ['dv', o.dv ?? 64], ['minQueries', o.minQueries ?? 512]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new TensorError('pavlovian', `${name} must be a positive integer, got ${v}`);
  }
}

/** Recall of n stored pairs, measured through linearAttention. */
export async function hebbianRecall(o: RecallOptions): Promise<RecallResult> {
  check(o);
  const { dk, n } = o;
  const M = o.codebook ?? 64;
  const dv = o.dv ?? 64;
  const dev = o.device ?? cpuDevice();
  const r = mulberry(o.seed ?? 1);
  const codebook = unitRows(r, M, dv);
  const trials = Math.max(1, Math.ceil((o.minQueries ?? 512) / n));
  let hits = 0;
  let first: RecallResult['firstTrial'] | null = null;
  for (let tr = 0; tr < trials; tr++) {
    const keys = randnArray(r, n * dk, 1 / Math.sqrt(dk));
    const codes = Int32Array.from({ length: n }, () => Math.floor(r() * M));
    const values = new Float32Array(n * dv);
    codes.forEach((c, i) => values.set(codebook.subarray(c * dv, (c + 1) * dv), i * dv));
    const seqK = new Float32Array(2 * n * dk);
    seqK.set(keys);
    seqK.set(keys, n * dk);
    const seqV = new Float32Array(2 * n * dv);
    seqV.set(values);
    const T = (x: Float32Array, d: number) => tensor(x, [1, 1, 2 * n, d], { device: dev });
    const res = await linearAttention(T(seqK, dk), T(seqK, dk), T(seqV, dv), { featureMap: o.featureMap ?? 'identity', normalize: false, scale: 1, mode: 'chunk' });
    const out = (await res.out.data()) as Float32Array;
    const retrieved = out.slice(n * dv, 2 * n * dv);
    for (let j = 0; j < n; j++) {
      let best = -Infinity;
      let arg = -1;
      for (let m = 0; m < M; m++) {
        let s = 0;
        for (let c = 0; c < dv; c++) s += retrieved[j * dv + c]! * codebook[m * dv + c]!;
        if (s > best) {
          best = s;
          arg = m;
        }
      }
      if (arg === codes[j]) hits++;
    }
    if (!first) first = { keys, values, codes, codebook, retrieved };
  }
  return { recall: hits / (trials * n), queries: trials * n, firstTrial: first! };
}

/**
 * Float64 reference of the memory readout for one trial: retrieved_j = sum_i (phi(k_j) . phi(k_i)) v_i
 * over all n writes (the later zero-value rows add nothing).
 */
export function hebbianReadoutNaive(keys: ArrayLike<number>, values: ArrayLike<number>, n: number, dk: number, dv: number, featureMap: MemoryFeatureMap = 'identity'): Float64Array {
  const phi = (x: number) => (featureMap === 'identity' ? x : featureMap === 'relu' ? Math.max(x, 0) : x > 0 ? x + 1 : Math.exp(x));
  const f = Float64Array.from(keys, phi);
  const out = new Float64Array(n * dv);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < dk; c++) s += f[j * dk + c]! * f[i * dk + c]!;
      for (let c = 0; c < dv; c++) out[j * dv + c]! += s * values[i * dv + c]!;
    }
  }
  return out;
}

/** Recall against n for one d_k. */
export async function capacityCurve(dk: number, ns: readonly number[], o: Omit<RecallOptions, 'dk' | 'n'> = {}): Promise<{ n: number; recall: number }[]> {
  const pts: { n: number; recall: number }[] = [];
  for (const n of ns) pts.push({ n, recall: (await hebbianRecall({ ...o, dk, n, seed: (o.seed ?? 1) * 7919 + n })).recall });
  return pts;
}

/**
 * The knee: the n where recall first falls below `threshold`, interpolated linearly in log n
 * between the grid points around the crossing; null when recall never falls below it.
 */
export function knee(curve: readonly { n: number; recall: number }[], threshold = 0.5): number | null {
  for (let i = 1; i < curve.length; i++) {
    const a = curve[i - 1]!;
    const b = curve[i]!;
    if (a.recall >= threshold && b.recall < threshold) {
      const f = (a.recall - threshold) / (a.recall - b.recall);
      return Math.exp(Math.log(a.n) + f * (Math.log(b.n) - Math.log(a.n)));
    }
  }
  return null;
}

/** Least-squares line y = slope x + intercept and its R^2 (@attnlab/tensor's `stats.linearFit`). */
export const fitLine = stats.linearFit;
