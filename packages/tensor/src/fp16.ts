/** IEEE half precision as values: what f16 storage does to a float32 (used by f16-storage kernels and their references). */

/** x rounded to the nearest IEEE half-precision value (ties to even; overflow to ±Infinity). */
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
