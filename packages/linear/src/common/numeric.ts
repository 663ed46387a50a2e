/** Seeded random data, fp16 rounding and error measures shared by tests and notebooks. */

/** Seeded uniform [0, 1) generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n standard normal float32 values (Box-Muller) times `scale`. */
export function randnArray(r: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  return out;
}

/** x rounded to the nearest IEEE half-precision value (ties to even; overflow to +-Infinity). */
export function roundFp16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  // Quantum: 2^(e - 10) for normals (e >= -14), 2^-24 for subnormals.
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const qu = Math.pow(2, e - 10);
  const r = a / qu;
  let n = Math.floor(r);
  const f = r - n;
  if (f > 0.5 || (f === 0.5 && n % 2 === 1)) n++;
  return Math.sign(x) * n * qu;
}

/** A copy of `x` with every entry rounded to fp16 (still float32 storage: accumulation stays fp32). */
export function toFp16Values(x: ArrayLike<number>): Float32Array {
  return Float32Array.from(x, roundFp16);
}

/** max |a - b| / max(|b|, tiny): the relative error used by every check here. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: length ${a.length} != ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= num)) num = d;
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-30);
}

/** max |a - b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d;
  }
  return m;
}
