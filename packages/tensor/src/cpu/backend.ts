import type { Backend, BinaryOp, MatmulSpec, ReduceOp, Storage, UnaryOp } from '../backend.js';
import { arrayFor, type AnyTypedArray, type DType } from '../dtype.js';
import { TensorError } from '../errors.js';
import { sizeOf, stridesOf } from '../shape.js';
import { COMPARISONS, binaryFn, unaryFn } from './elementwise.js';
import { matmulCpu } from './matmul.js';
import { CpuStorage, cpuData } from './storage.js';

/**
 * The CPU device: typed arrays, sums accumulated in float64 (JavaScript numbers), so it is
 * accurate enough to judge the GPU; heavy matmuls go to a WebAssembly SIMD kernel.
 */
export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly adapter = 'CPU (JavaScript + WebAssembly SIMD)';

  upload(data: AnyTypedArray): Storage {
    return new CpuStorage(data.slice());
  }

  fill(dtype: DType, size: number, value: number): Storage {
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

  free(_s: Storage): void {
    // Garbage collected.
  }

  unary(op: UnaryOp, x: Storage, param?: number, param2?: number): Storage {
    const a = cpuData(x);
    const out = arrayFor(x.dtype, a.length);
    const f = unaryFn(op, param, param2);
    for (let i = 0; i < a.length; i++) out[i] = f(a[i]!);
    return new CpuStorage(out);
  }

  binary(op: BinaryOp, a: Storage, aStrides: readonly number[], b: Storage, bStrides: readonly number[], outShape: readonly number[]): Storage {
    const A = cpuData(a);
    const B = cpuData(b);
    const n = sizeOf(outShape);
    const out = arrayFor(COMPARISONS.has(op) ? 'float32' : a.dtype, n);
    const f = binaryFn(op);
    if (A.length === n && B.length === n && isContiguous(aStrides, outShape) && isContiguous(bStrides, outShape)) {
      for (let i = 0; i < n; i++) out[i] = f(A[i]!, B[i]!);
    } else {
      const ia = indexer(aStrides, outShape);
      const ib = indexer(bStrides, outShape);
      for (let i = 0; i < n; i++) out[i] = f(A[ia(i)]!, B[ib(i)]!);
    }
    return new CpuStorage(out);
  }

  where(cond: Storage, cStrides: readonly number[], a: Storage, aStrides: readonly number[], b: Storage, bStrides: readonly number[], outShape: readonly number[]): Storage {
    const C = cpuData(cond);
    const A = cpuData(a);
    const B = cpuData(b);
    const n = sizeOf(outShape);
    const out = arrayFor(a.dtype, n);
    const ic = indexer(cStrides, outShape);
    const ia = indexer(aStrides, outShape);
    const ib = indexer(bStrides, outShape);
    for (let i = 0; i < n; i++) out[i] = C[ic(i)] !== 0 ? A[ia(i)]! : B[ib(i)]!;
    return new CpuStorage(out);
  }

  reduce(op: ReduceOp, x: Storage, outer: number, len: number, inner: number): Storage {
    const X = cpuData(x);
    const out = arrayFor(op === 'argmax' ? 'int32' : x.dtype, outer * inner);
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
    const out = new Float32Array(spec.batch * spec.m * spec.n);
    matmulCpu(cpuData(a) as Float32Array, cpuData(b) as Float32Array, out, spec);
    return new CpuStorage(out);
  }

  strided(x: Storage, shape: readonly number[], strides: readonly number[], offset: number): Storage {
    const X = cpuData(x);
    const n = sizeOf(shape);
    const out = arrayFor(x.dtype, n);
    const ix = indexer(strides, shape);
    for (let i = 0; i < n; i++) out[i] = X[offset + ix(i)]!;
    return new CpuStorage(out);
  }

  scatterInto(dst: Storage, src: Storage, srcShape: readonly number[], dstStrides: readonly number[], offset: number): Storage {
    const out = cpuData(dst).slice();
    const S = cpuData(src);
    const id = indexer(dstStrides, srcShape);
    for (let i = 0; i < S.length; i++) out[offset + id(i)] = S[i]!;
    return new CpuStorage(out);
  }

  gatherRows(table: Storage, idx: Storage, rows: number, cols: number): Storage {
    const T = cpuData(table);
    const I = cpuData(idx);
    const out = arrayFor(table.dtype, I.length * cols);
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
    const out = new Float32Array(n * c);
    for (let i = 0; i < n; i++) {
      const j = I[i]!;
      if (j >= 0 && j < c) out[i * c + j] = G[i]!;
    }
    return new CpuStorage(out);
  }

  cast(x: Storage, to: DType): Storage {
    const X = cpuData(x);
    const out = arrayFor(to, X.length);
    if (to === 'int32') for (let i = 0; i < X.length; i++) out[i] = Math.trunc(X[i]!);
    else out.set(X);
    return new CpuStorage(out);
  }

  async sync(): Promise<void> {}

  destroy(): void {}
}

function isContiguous(strides: readonly number[], shape: readonly number[]): boolean {
  const s = stridesOf(shape);
  return strides.every((v, i) => v === s[i] || shape[i] === 1);
}

/** Maps a flat output index to an input element offset for the given per-dim strides. */
function indexer(strides: readonly number[], shape: readonly number[]): (i: number) => number {
  const nd = shape.length;
  if (nd === 0) return () => 0;
  const dims = Int32Array.from(shape);
  const st = Int32Array.from(strides);
  if (nd === 1) {
    const s0 = st[0]!;
    return (i) => i * s0;
  }
  if (nd === 2) {
    const d1 = dims[1]!;
    const s0 = st[0]!;
    const s1 = st[1]!;
    return (i) => {
      const r = (i / d1) | 0;
      return r * s0 + (i - r * d1) * s1;
    };
  }
  return (i) => {
    let off = 0;
    for (let d = nd - 1; d >= 0; d--) {
      const dim = dims[d]!;
      const q = (i / dim) | 0;
      off += (i - q * dim) * st[d]!;
      i = q;
    }
    return off;
  };
}
