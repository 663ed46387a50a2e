/**
 * Float16 storage for attention's q, k, v (`storage: 'f16'`): round-to-nearest-even from float32,
 * the exact way back, and the range check shared by both devices. The WGSL pack kernel
 * (wgsl/f16-pack.ts) implements the same integer rounding, so the CPU device (which runs its
 * float32 kernels on the rounded values) and WebGPU compute on identical inputs. Internal: references
 * and notebooks use @attnlab/tensor's roundFp16 (equal on float32 inputs; this one is the fast
 * array path the CPU device runs on every call).
 */
import { TensorError, type Tensor } from '@attnlab/tensor';

/** Largest finite float16. */
export const F16_MAX = 65504;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Bits of the float16 nearest to float32 `x` (ties to even); NaN stays NaN, overflow is Infinity. */
export function f16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // float16 biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal float16 (units of 2^-24): shift the implicit-one mantissa down, rounding.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const s = 14 - e;
    let h = m >>> s;
    const rem = m & ((1 << s) - 1);
    const half = 1 << (s - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into the exponent is right, up to Infinity
  return sign | h;
}

/** The float16 with bits `h`, as a number (exact). */
export function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Smallest normal float16; below it float16 steps by 2^-24. */
const F16_MIN_NORMAL = 2 ** -14;

/**
 * Bits of the float32 equal to float16-rounded float32 `bits` (finite, |x| <= 65504, |x| >= 2^-14):
 * ties-to-even on the 13 mantissa bits float16 lacks; a carry into the exponent is right.
 */
const roundNormalBits = (bits: number): number => ((bits + 0xfff + ((bits >>> 13) & 1)) & ~0x1fff) >>> 0;

/** Float16 subnormal range: rounding to a multiple of 2^-24 is float32's own rounding of x ± 0.5 (ulp 2^-24 there). */
function roundSubnormal(x: number): number {
  const c = x < 0 || Object.is(x, -0) ? -0.5 : 0.5;
  const r = Math.fround(x + c) - c;
  return r === 0 ? (c < 0 ? -0 : 0) : r;
}

/** x (a float32 value) rounded to float16 and back (float16 holds exactly in float32); NaN stays NaN, overflow is Infinity. */
export function roundF16(x: number): number {
  const a = Math.abs(x);
  if (!(a <= F16_MAX)) return Number.isNaN(x) || !Number.isFinite(x) ? x : f16Value(f16Bits(x));
  if (a < F16_MIN_NORMAL) return roundSubnormal(x);
  f32[0] = x;
  u32[0] = roundNormalBits(u32[0]!);
  return f32[0]!;
}

/** The error for element `index` of tensor `name` being beyond float16's range. */
export function f16RangeError(name: string, t: Tensor, index: number, value: number): TensorError {
  const at: number[] = [];
  let rest = index;
  for (let i = t.rank - 1; i >= 0; i--) {
    at.unshift(rest % t.shape[i]!);
    rest = Math.floor(rest / t.shape[i]!);
  }
  return new TensorError('attention', `storage 'f16': ${name}[${at.join(', ')}] = ${value} is beyond float16's range (largest finite ${F16_MAX}) and would become Infinity; use storage 'f32' or rescale ${name}`);
}

/** A float32 copy of `a` rounded to float16; throws naming `name` and the first finite value beyond ±65504. */
export function toF16Checked(name: string, t: Tensor, a: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  const ab = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ob = new Uint32Array(out.buffer);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const m = Math.abs(x);
    if (m >= F16_MIN_NORMAL && m <= F16_MAX) ob[i] = roundNormalBits(ab[i]!);
    else if (m < F16_MIN_NORMAL) out[i] = roundSubnormal(x);
    else if (Number.isFinite(x)) throw f16RangeError(name, t, i, x);
    else out[i] = x; // NaN, ±Infinity: kept, as float16 holds them
  }
  return out;
}
