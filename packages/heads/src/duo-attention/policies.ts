/**
 * From gates to a deployable cache: heads whose α passes the threshold (or the top k) keep a full
 * KV cache, the others a sinks + window one, as per-head policies of the model's one KVCache.
 */
import type { EvictionPolicy } from '@attnlab/attention';
import type { HeadSelector } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { checkSpec, type StreamingSpec } from './mix.js';

/** Heads sorted by descending α (ties by layer, head). alpha is [layers * heads] row-major. */
export function rankByAlpha(alpha: ArrayLike<number>, heads: number): (HeadSelector & { alpha: number })[] {
  if (!Number.isInteger(heads) || heads < 1 || alpha.length % heads !== 0) throw new HeadsError('rankByAlpha', `${alpha.length} gates do not split into rows of ${heads} heads`);
  return Array.from(alpha, (a, i) => ({ layer: Math.floor(i / heads), head: i % heads, alpha: a }))
    .sort((x, y) => y.alpha - x.alpha || x.layer - y.layer || x.head - y.head);
}

/** The heads with α >= threshold. */
export function retrievalSet(alpha: ArrayLike<number>, heads: number, threshold = 0.5): HeadSelector[] {
  return rankByAlpha(alpha, heads).filter((h) => h.alpha >= threshold).map(({ layer, head }) => ({ layer, head }));
}

/**
 * (layer, head) => policy: null (full cache) for `full`, sinks + window for every other head (the
 * cache's `{ sinks, window }` policy shorthand: the sinks + window rule of the KVPolicy interface).
 */
export function headPolicies(full: readonly HeadSelector[], spec: StreamingSpec): (layer: number, head: number) => EvictionPolicy | null {
  checkSpec(spec, 'headPolicies');
  const keep = new Set(full.map((s) => `${s.layer}:${s.head}`));
  const streaming: EvictionPolicy = { sinks: spec.sinks, window: spec.window };
  return (l, h) => (keep.has(`${l}:${h}`) ? null : streaming);
}

/**
 * Bimodality of the gates: the fraction of gates within `margin` of 0 or 1, and Sarle's
 * bimodality coefficient (skew² + 1) / (kurtosis + 3(n−1)²/((n−2)(n−3))); above 5/9 ≈ 0.555 hints
 * at two modes (a uniform distribution gives exactly 5/9).
 */
export function bimodality(alpha: ArrayLike<number>, margin = 0.1): { nearEnds: number; coefficient: number } {
  const a = Array.from(alpha);
  const n = a.length;
  if (n < 4) throw new HeadsError('bimodality', `needs at least 4 gates, got ${n}`);
  const m = a.reduce((s, x) => s + x, 0) / n;
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  for (const x of a) {
    const d = x - m;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  const nearEnds = a.filter((x) => x <= margin || x >= 1 - margin).length / n;
  if (m2 === 0) return { nearEnds, coefficient: 0 };
  // Sample skewness and excess kurtosis with their small-sample corrections.
  const g1 = m3 / m2 ** 1.5;
  const g2 = m4 / (m2 * m2) - 3;
  const skew = (Math.sqrt(n * (n - 1)) / (n - 2)) * g1;
  const kurt = ((n - 1) / ((n - 2) * (n - 3))) * ((n + 1) * g2 + 6);
  const coefficient = (skew * skew + 1) / (kurt + (3 * (n - 1) ** 2) / ((n - 2) * (n - 3)));
  return { nearEnds, coefficient };
}
