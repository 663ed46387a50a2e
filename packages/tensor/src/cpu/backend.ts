import type { Backend, BinaryOp, MatmulSpec, ReduceOp, Storage, UnaryOp } from '../backend.js';
import { arrayFor, type AnyTypedArray, type DType } from '../dtype.js';
import { TensorError } from '../errors.js';
import { sizeOf } from '../shape.js';
import { COMPARISONS, binaryFn, unaryFn } from './elementwise.js';
import { matmulCpu } from './matmul.js';
import { geluWasm } from './wasm/gemm.js';
import { CpuStorage, cpuData } from './storage.js';
import { collapse, forEachRun } from './strided.js';
import { f32Overwrite, f32Zeroed, recycle } from './pool.js';

/**
 * The CPU device: typed arrays, sums accumulated in float64 (JavaScript numbers), so it is
 * accurate enough to judge the GPU; heavy matmuls go to a WebAssembly SIMD kernel.
 */
export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly adapter = 'CPU (JavaScript + WebAssembly SIMD)';

  upload(data: AnyTypedArray): Storage {
    if (!(data instanceof Float32Array)) return new CpuStorage(data.slice());
    const a = f32Overwrite(data.length);
    a.set(data);
    return new CpuStorage(a);
  }

  fill(dtype: DType, size: number, value: number): Storage {
    if (dtype === 'float32') return new CpuStorage(value === 0 ? f32Zeroed(size) : f32Overwrite(size).fill(value));
    const a = arrayFor(dtype, size);
    if (value !== 0) a.fill(value);
    return new CpuStorage(a);
  }

  async read(s: Storage): Promise<AnyTypedArray> {
    return cpuData(s).slice();
  }

  /** Synchronous read for CPU-only callers. */
  readSync(s: Storage): AnyTypedArray {
    return cpuData(s);
  }

  free(s: Storage): void {
    // The array goes back to the pool for the next op of its length (or to the garbage collector).
    recycle(cpuData(s));
  }

  unary(op: UnaryOp, x: Storage, param?: number, param2?: number): Storage {
    const a = cpuData(x);
    const out = outArray(x.dtype, a.length);
    if (!unaryFast(op, a, out, param ?? 0)) {
      const f = unaryFn(op, param, param2);
      for (let i = 0; i < a.length; i++) out[i] = f(a[i]!);
    }
    return new CpuStorage(out);
  }

  binary(op: BinaryOp, a: Storage, aStrides: readonly number[], b: Storage, bStrides: readonly number[], outShape: readonly number[]): Storage {
    const A = cpuData(a);
    const B = cpuData(b);
    const n = sizeOf(outShape);
    const out = outArray(COMPARISONS.has(op) ? 'float32' : a.dtype, n);
    if (n === 0) return new CpuStorage(out);
    const c = collapse(outShape, [aStrides, bStrides]);
    const code = ARITH_CODE[op] ?? -1;
    if (code >= 0 && c.shape.length <= 3 && A instanceof Float32Array && B instanceof Float32Array && out instanceof Float32Array) {
      // Bias and broadcast arithmetic (many short runs): plain nested loops, no call per run.
      arith32Nd(code, out, A, B, c.shape, c.strides[0]!, c.strides[1]!);
      return new CpuStorage(out);
    }
    const f = binaryFn(op);
    forEachRun(c, [0, 0], (o, off, len) => binaryRun(op, f, out, o, A, off[0]!, c.strides[0]!.at(-1)!, B, off[1]!, c.strides[1]!.at(-1)!, len));
    return new CpuStorage(out);
  }

  where(cond: Storage, cStrides: readonly number[], a: Storage, aStrides: readonly number[], b: Storage, bStrides: readonly number[], outShape: readonly number[]): Storage {
    const C = cpuData(cond);
    const A = cpuData(a);
    const B = cpuData(b);
    const n = sizeOf(outShape);
    const out = outArray(a.dtype, n);
    if (n === 0) return new CpuStorage(out);
    const c = collapse(outShape, [cStrides, aStrides, bStrides]);
    const [sc, sa, sb] = c.strides.map((s) => s.at(-1)!) as [number, number, number];
    forEachRun(c, [0, 0, 0], (o, off, len) => {
      let ic = off[0]!;
      let ia = off[1]!;
      let ib = off[2]!;
      for (let i = 0; i < len; i++, ic += sc, ia += sa, ib += sb) out[o + i] = C[ic] !== 0 ? A[ia]! : B[ib]!;
    });
    return new CpuStorage(out);
  }

  reduce(op: ReduceOp, x: Storage, outer: number, len: number, inner: number): Storage {
    const X = cpuData(x);
    const out = outArray(op === 'argmax' ? 'int32' : x.dtype, outer * inner);
    if (X instanceof Float32Array && out instanceof Float32Array) {
      if (op === 'sum') {
        sum32(X, out, outer, len, inner);
        return new CpuStorage(out);
      }
      if (op === 'max' && inner === 1) {
        maxRows32(X, out, outer, len);
        return new CpuStorage(out);
      }
    }
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const base = o * len * inner + j;
        let acc: number;
        if (op === 'sum') {
          acc = 0;
          for (let i = 0; i < len; i++) acc += X[base + i * inner]!;
        } else if (op === 'argmax') {
          let best = -Infinity;
          acc = 0;
          for (let i = 0; i < len; i++) {
            const v = X[base + i * inner]!;
            if (v > best || (Number.isNaN(v) && !Number.isNaN(best))) {
              best = v;
              acc = i;
            }
          }
        } else {
          acc = op === 'max' ? -Infinity : Infinity;
          for (let i = 0; i < len; i++) {
            const v = X[base + i * inner]!;
            if (Number.isNaN(v)) {
              acc = NaN;
              break;
            }
            if (op === 'max' ? v > acc : v < acc) acc = v;
          }
        }
        out[o * inner + j] = acc;
      }
    }
    return new CpuStorage(out);
  }

  matmul(a: Storage, b: Storage, spec: MatmulSpec): Storage {
    const out = f32Overwrite(spec.batch * spec.m * spec.n);
    // A batch of row blocks against one shared matrix is one taller product.
    const fold = spec.batch > 1 && spec.bBatchStride === 0 && !spec.transA && spec.aBatchStride === spec.m * spec.k;
    const s = fold ? { ...spec, batch: 1, m: spec.batch * spec.m, aBatchStride: 0 } : spec;
    matmulCpu(cpuData(a) as Float32Array, cpuData(b) as Float32Array, out, s);
    return new CpuStorage(out);
  }

  strided(x: Storage, shape: readonly number[], strides: readonly number[], offset: number): Storage {
    const X = cpuData(x);
    const n = sizeOf(shape);
    const c = collapse(shape, [strides]);
    if (c.shape.length === 1 && c.strides[0]![0] === 1) {
      if (!(X instanceof Float32Array)) return new CpuStorage(X.slice(offset, offset + n));
      const a = f32Overwrite(n);
      a.set(X.subarray(offset, offset + n));
      return new CpuStorage(a);
    }
    const out = outArray(x.dtype, n);
    if (n === 0) return new CpuStorage(out);
    if (c.shape.length <= 4 && X instanceof Float32Array && out instanceof Float32Array) {
      gather4(X, out, c.shape, c.strides[0]!, offset);
      return new CpuStorage(out);
    }
    const s = c.strides[0]!.at(-1)!;
    forEachRun(c, [offset], (o, off, len) => {
      if (s === 1) out.set(X.subarray(off[0]!, off[0]! + len), o);
      else for (let i = 0, ix = off[0]!; i < len; i++, ix += s) out[o + i] = X[ix]!;
    });
    return new CpuStorage(out);
  }

  scatterInto(dst: Storage, src: Storage, srcShape: readonly number[], dstStrides: readonly number[], offset: number): Storage {
    const D = cpuData(dst);
    const out = outArray(dst.dtype, D.length);
    out.set(D);
    const S = cpuData(src);
    if (S.length === 0) return new CpuStorage(out);
    const c = collapse(srcShape, [dstStrides]);
    const s = c.strides[0]!.at(-1)!;
    forEachRun(c, [offset], (o, off, len) => {
      if (s === 1) out.set(S.subarray(o, o + len), off[0]!);
      else for (let i = 0, id = off[0]!; i < len; i++, id += s) out[id] = S[o + i]!;
    });
    return new CpuStorage(out);
  }

  gatherRows(table: Storage, idx: Storage, rows: number, cols: number): Storage {
    const T = cpuData(table);
    const I = cpuData(idx);
    const out = outArray(table.dtype, I.length * cols);
    for (let i = 0; i < I.length; i++) {
      const r = I[i]!;
      if (r < 0 || r >= rows) throw new TensorError('embedding', `index ${r} at position ${i} is out of range for ${rows} rows`);
      out.set(T.subarray(r * cols, r * cols + cols), i * cols);
    }
    return new CpuStorage(out);
  }

  scatterAddRows(g: Storage, idx: Storage, rows: number, cols: number): Storage {
    const G = cpuData(g);
    const I = cpuData(idx);
    const acc = new Float64Array(rows * cols);
    for (let i = 0; i < I.length; i++) {
      const r = I[i]!;
      if (r < 0 || r >= rows) continue;
      for (let c = 0; c < cols; c++) acc[r * cols + c]! += G[i * cols + c]!;
    }
    return new CpuStorage(Float32Array.from(acc));
  }

  pickLast(x: Storage, idx: Storage, n: number, c: number): Storage {
    const X = cpuData(x);
    const I = cpuData(idx);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const j = I[i]!;
      if (j < 0 || j >= c) throw new TensorError('pick', `class index ${j} at position ${i} is out of range for ${c} classes`);
      out[i] = X[i * c + j]!;
    }
    return new CpuStorage(out);
  }

  unpickLast(g: Storage, idx: Storage, n: number, c: number): Storage {
    const G = cpuData(g);
    const I = cpuData(idx);
    const out = f32Zeroed(n * c);
    for (let i = 0; i < n; i++) {
      const j = I[i]!;
      if (j >= 0 && j < c) out[i * c + j] = G[i]!;
    }
    return new CpuStorage(out);
  }

  cast(x: Storage, to: DType): Storage {
    const X = cpuData(x);
    const out = outArray(to, X.length);
    if (to === 'int32') for (let i = 0; i < X.length; i++) out[i] = Math.trunc(X[i]!);
    else out.set(X);
    return new CpuStorage(out);
  }

  async sync(): Promise<void> {}

  destroy(): void {}
}

/** An output array the op writes in full (recycled float32 memory; junk until written). */
function outArray(dtype: DType, n: number): AnyTypedArray {
  return dtype === 'float32' ? f32Overwrite(n) : new Int32Array(n);
}

/** One output run of a binary op; float32 arithmetic gets monomorphic loops (the hot path in training). */
function binaryRun(
  op: BinaryOp, f: (a: number, b: number) => number, out: AnyTypedArray, o: number,
  A: AnyTypedArray, ia: number, sa: number, B: AnyTypedArray, ib: number, sb: number, len: number,
): void {
  if (out instanceof Float32Array && A instanceof Float32Array && B instanceof Float32Array) {
    const code = op === 'add' ? 0 : op === 'sub' ? 1 : op === 'mul' ? 2 : op === 'div' ? 3 : -1;
    if (code >= 0) {
      if (sa === 1 && sb === 1) arith32Contig(code, out, o, A, ia, B, ib, len);
      else arith32(code, out, o, A, ia, sa, B, ib, sb, len);
      return;
    }
  }
  for (let i = 0; i < len; i++, ia += sa, ib += sb) out[o + i] = f(A[ia]!, B[ib]!);
}

const ARITH_CODE: Partial<Record<BinaryOp, number>> = { add: 0, sub: 1, mul: 2, div: 3 };

/** out (contiguous) = A op B over up to 3 collapsed dims with per-operand strides. */
function arith32Nd(code: number, out: Float32Array, A: Float32Array, B: Float32Array, shape: readonly number[], sa: readonly number[], sb: readonly number[]): void {
  const pad = 3 - shape.length;
  const d0 = pad > 0 ? 1 : shape[0]!;
  const d1 = pad > 1 ? 1 : shape[1 - pad]!;
  const d2 = shape[2 - pad]!;
  const a0 = pad > 0 ? 0 : sa[0]!;
  const a1 = pad > 1 ? 0 : sa[1 - pad]!;
  const a2 = sa[2 - pad]!;
  const b0 = pad > 0 ? 0 : sb[0]!;
  const b1 = pad > 1 ? 0 : sb[1 - pad]!;
  const b2 = sb[2 - pad]!;
  let o = 0;
  for (let i0 = 0; i0 < d0; i0++) {
    for (let i1 = 0; i1 < d1; i1++, o += d2) {
      const ia = i0 * a0 + i1 * a1;
      const ib = i0 * b0 + i1 * b1;
      if (a2 === 1 && b2 === 1) arith32Contig(code, out, o, A, ia, B, ib, d2);
      else arith32(code, out, o, A, ia, a2, B, ib, b2, d2);
    }
  }
}

function arith32Contig(code: number, out: Float32Array, o: number, A: Float32Array, ia: number, B: Float32Array, ib: number, len: number): void {
  if (code === 0) for (let i = 0; i < len; i++) out[o + i] = A[ia + i]! + B[ib + i]!;
  else if (code === 1) for (let i = 0; i < len; i++) out[o + i] = A[ia + i]! - B[ib + i]!;
  else if (code === 2) for (let i = 0; i < len; i++) out[o + i] = A[ia + i]! * B[ib + i]!;
  else for (let i = 0; i < len; i++) out[o + i] = A[ia + i]! / B[ib + i]!;
}

function arith32(code: number, out: Float32Array, o: number, A: Float32Array, ia: number, sa: number, B: Float32Array, ib: number, sb: number, len: number): void {
  if (code === 0) for (let i = 0; i < len; i++, ia += sa, ib += sb) out[o + i] = A[ia]! + B[ib]!;
  else if (code === 1) for (let i = 0; i < len; i++, ia += sa, ib += sb) out[o + i] = A[ia]! - B[ib]!;
  else if (code === 2) for (let i = 0; i < len; i++, ia += sa, ib += sb) out[o + i] = A[ia]! * B[ib]!;
  else for (let i = 0; i < len; i++, ia += sa, ib += sb) out[o + i] = A[ia]! / B[ib]!;
}

/** Monomorphic float32 loops for the unary ops training runs most; false for the rest (generic path). */
function unaryFast(op: UnaryOp, x: AnyTypedArray, y: AnyTypedArray, p: number): boolean {
  if (!(x instanceof Float32Array) || !(y instanceof Float32Array)) return false;
  const code = UNARY_FAST[op] ?? -1;
  if (code < 0) return false;
  unary32(code, x, y, p);
  return true;
}

const UNARY_FAST: Partial<Record<UnaryOp, number>> = { neg: 0, exp: 1, square: 2, mulScalar: 3, addScalar: 4, rsqrt: 5, gelu: 6, geluGrad: 7 };
export const GELU_C = Math.sqrt(2 / Math.PI);

function unary32(code: number, a: Float32Array, out: Float32Array, p: number): void {
  const n = a.length;
  switch (code) {
    case 0: for (let i = 0; i < n; i++) out[i] = -a[i]!; return;
    case 1: for (let i = 0; i < n; i++) out[i] = Math.exp(a[i]!); return;
    case 2: for (let i = 0; i < n; i++) out[i] = a[i]! * a[i]!; return;
    case 3: for (let i = 0; i < n; i++) out[i] = a[i]! * p; return;
    case 4: for (let i = 0; i < n; i++) out[i] = a[i]! + p; return;
    case 5: for (let i = 0; i < n; i++) out[i] = 1 / Math.sqrt(a[i]!); return;
    case 6:
      // SIMD for the bulk; unaryFn('gelu')'s formula (tanh through one exp) for the rest.
      for (let i = geluWasm(a, out); i < n; i++) {
        const x = a[i]!;
        out[i] = 0.5 * x * (1 + tanhFast(GELU_C * (x + 0.044715 * x * x * x)));
      }
      return;
    default:
      // unaryFn('geluGrad')'s formula, tanh through one exp.
      for (let i = 0; i < n; i++) {
        const x = a[i]!;
        const t = tanhFast(GELU_C * (x + 0.044715 * x * x * x));
        out[i] = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x);
      }
  }
}

/** tanh(u) = 1 - 2 / (e^{2u} + 1): one Math.exp (about twice as fast as Math.tanh), exact to ~1e-16 absolute. */
export function tanhFast(u: number): number {
  return 1 - 2 / (Math.exp(2 * u) + 1);
}

/** Sum over the middle axis of [outer, len, inner], float64 accumulation, memory walked in order. */
function sum32(X: Float32Array, out: Float32Array, outer: number, len: number, inner: number): void {
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let acc = 0;
      const base = o * len;
      for (let i = 0; i < len; i++) acc += X[base + i]!;
      out[o] = acc;
    }
    return;
  }
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    let base = o * len * inner;
    for (let i = 0; i < len; i++, base += inner) for (let j = 0; j < inner; j++) acc[j] = acc[j]! + X[base + j]!;
    for (let j = 0; j < inner; j++) out[o * inner + j] = acc[j]!;
  }
}

/** Row maxima of [outer, len]; a NaN in a row gives NaN (as the generic path). */
function maxRows32(X: Float32Array, out: Float32Array, outer: number, len: number): void {
  for (let o = 0; o < outer; o++) {
    let acc = -Infinity;
    const base = o * len;
    for (let i = 0; i < len; i++) {
      const v = X[base + i]!;
      if (v !== v) {
        acc = NaN;
        break;
      }
      if (v > acc) acc = v;
    }
    out[o] = acc;
  }
}

/** out = X viewed with up to 4 (collapsed) dims and strides, as plain nested loops (permute copies). */
function gather4(X: Float32Array, out: Float32Array, shape: readonly number[], st: readonly number[], offset: number): void {
  const pad = 4 - shape.length;
  const d0 = pad > 0 ? 1 : shape[0]!;
  const d1 = pad > 1 ? 1 : shape[1 - pad]!;
  const d2 = pad > 2 ? 1 : shape[2 - pad]!;
  const d3 = shape[3 - pad]!;
  const s0 = pad > 0 ? 0 : st[0]!;
  const s1 = pad > 1 ? 0 : st[1 - pad]!;
  const s2 = pad > 2 ? 0 : st[2 - pad]!;
  const s3 = st[3 - pad]!;
  let o = 0;
  for (let i0 = 0; i0 < d0; i0++) {
    for (let i1 = 0; i1 < d1; i1++) {
      for (let i2 = 0; i2 < d2; i2++) {
        let ix = offset + i0 * s0 + i1 * s1 + i2 * s2;
        for (let i3 = 0; i3 < d3; i3++, ix += s3) out[o++] = X[ix]!;
      }
    }
  }
}
