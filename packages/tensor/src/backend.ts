import type { AnyTypedArray, DType } from './dtype.js';

/**
 * The contract every compute device implements. Tensors are always contiguous row-major;
 * ops that change layout (permute, slice, concat) copy. A `Storage` is opaque to the
 * tensor layer: a typed array on the CPU, a GPUBuffer on WebGPU.
 *
 * Kernels allocate and return a fresh output storage; they never free their inputs.
 * Float kernels compute in float32. Comparison results are float32 0/1.
 */
export interface Storage {
  /** Size in elements. */
  readonly size: number;
  readonly dtype: DType;
}

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'tanh' | 'sigmoid' | 'relu' | 'elu' | 'gelu'
  | 'abs' | 'sign' | 'square' | 'reciprocal' | 'sin' | 'cos'
  /** x > 0 ? 1 : 0 (relu backward) */
  | 'step'
  /** d/dx elu(x) = x > 0 ? 1 : exp(x) */
  | 'eluGrad'
  /** d/dx gelu(x) for the tanh approximation used by GPT-2 */
  | 'geluGrad'
  /** x ** param */
  | 'powScalar'
  /** x * param */
  | 'mulScalar'
  /** x + param */
  | 'addScalar'
  /** max(min(x, hi), lo) with param = lo, param2 = hi */
  | 'clamp';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow' | 'eq' | 'gt' | 'ge' | 'lt' | 'le';

export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax';

export interface MatmulSpec {
  batch: number;
  m: number;
  k: number;
  n: number;
  /** a is [batch?, m, k] (or [batch?, k, m] when transA); batch stride 0 broadcasts a single matrix. */
  transA: boolean;
  transB: boolean;
  aBatchStride: number;
  bBatchStride: number;
}

export interface Backend {
  readonly kind: 'cpu' | 'webgpu';
  /** Human-readable adapter description. */
  readonly adapter: string;

  upload(data: AnyTypedArray): Storage;
  /** A storage of `size` elements filled with `value`. */
  fill(dtype: DType, size: number, value: number): Storage;
  read(s: Storage): Promise<AnyTypedArray>;
  free(s: Storage): void;

  /** Elementwise. Output dtype equals input dtype (int32 only for neg/abs/sign/mulScalar/addScalar). */
  unary(op: UnaryOp, x: Storage, param?: number, param2?: number): Storage;
  /**
   * Broadcasting binary op. `aStrides`/`bStrides` give each input's element stride per output
   * dim (0 where broadcast). Both inputs share a dtype; comparisons return float32.
   */
  binary(op: BinaryOp, a: Storage, aStrides: readonly number[], b: Storage, bStrides: readonly number[], outShape: readonly number[]): Storage;
  /** out = cond != 0 ? a : b, broadcasting like `binary`. */
  where(cond: Storage, cStrides: readonly number[], a: Storage, aStrides: readonly number[], b: Storage, bStrides: readonly number[], outShape: readonly number[]): Storage;
  /** Reduce the middle axis of x viewed as [outer, len, inner]; output [outer, inner]. argmax yields int32. */
  reduce(op: ReduceOp, x: Storage, outer: number, len: number, inner: number): Storage;
  matmul(a: Storage, b: Storage, spec: MatmulSpec): Storage;
  /** Contiguous copy of a strided view: out[i...] = x[offset + sum(i_d * strides_d)], out has `shape`. */
  strided(x: Storage, shape: readonly number[], strides: readonly number[], offset: number): Storage;
  /** Write `src` (contiguous, `srcShape`) into a copy of `dst` (`dstShape`) at element `offset` with `dstStrides`. Returns the new storage. */
  scatterInto(dst: Storage, src: Storage, srcShape: readonly number[], dstStrides: readonly number[], offset: number): Storage;
  /** Rows of a [rows, cols] table picked by int32 indices: out[i, :] = table[idx[i], :]. */
  gatherRows(table: Storage, idx: Storage, rows: number, cols: number): Storage;
  /** Backward of gatherRows: out [rows, cols] zeros, out[idx[i], :] += g[i, :]. */
  scatterAddRows(g: Storage, idx: Storage, rows: number, cols: number): Storage;
  /** out[i] = x[i, idx[i]] for x [n, c]; out-of-range indices raise on CPU and read 0 on GPU. */
  pickLast(x: Storage, idx: Storage, n: number, c: number): Storage;
  /** Backward of pickLast: out [n, c] zeros with out[i, idx[i]] = g[i]. */
  unpickLast(g: Storage, idx: Storage, n: number, c: number): Storage;
  cast(x: Storage, to: DType): Storage;
  /** Wait for queued work (GPU); resolves at once on the CPU. */
  sync(): Promise<void>;
  /** Release the device. */
  destroy(): void;
}
