/** Seeded PRNG (mulberry32, @attnlab/tensor's one copy) and helpers shared by the tests. */
import { mulberry32, gaussianArray, tensor, type Device, type Tensor } from '@attnlab/tensor';

export const rng = mulberry32;

export function randn(r: () => number, n: number, scale = 1): Float32Array {
  return gaussianArray(r, n, scale);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue; // equal infinities
    const d = Math.abs(x - y);
    if (!(d <= m)) m = d; // NaN propagates as NaN
  }
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Max relative error |a-b| / max(|b|_inf, tiny). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return maxAbsDiff(a, b) / Math.max(maxAbs(b), 1e-30);
}

/**
 * max |a - b| (with `rel`: |a - b| / max(1, |b|), for lse, which float32 holds to a relative ulp),
 * equal special values (NaN and NaN, same infinities) counting as equal.
 */
export function diffSpecials(a: ArrayLike<number>, b: ArrayLike<number>, rel = false): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const d = Math.abs(x - y) / (rel ? Math.max(1, Math.abs(y)) : 1);
    if (!(d <= m)) m = d;
  }
  return m;
}

/** Gaussian q [B, Hq, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv] as arrays and as tensors on `dev`; `edit` changes q's array first. */
export function randomQkv(
  r: () => number, d: { B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number; Dv?: number }, dev: Device,
  opts: { requiresGrad?: boolean; edit?: (q: Float32Array) => void } = {},
): { qa: Float32Array; ka: Float32Array; va: Float32Array; q: Tensor; k: Tensor; v: Tensor } {
  const Dv = d.Dv ?? d.D;
  const qa = randn(r, d.B * d.Hq * d.Nq * d.D);
  const ka = randn(r, d.B * d.Hkv * d.Nk * d.D);
  const va = randn(r, d.B * d.Hkv * d.Nk * Dv);
  opts.edit?.(qa);
  const o = { device: dev, requiresGrad: opts.requiresGrad ?? false };
  return { qa, ka, va, q: tensor(qa, [d.B, d.Hq, d.Nq, d.D], o), k: tensor(ka, [d.B, d.Hkv, d.Nk, d.D], o), v: tensor(va, [d.B, d.Hkv, d.Nk, Dv], o) };
}
