import type { Storage } from './backend.js';
import type { AnyTypedArray, DType } from './dtype.js';
import type { Device } from './device.js';
import { TensorError, fmtShape } from './errors.js';
import { sizeOf, type Shape } from './shape.js';
import { trackTensor, untrackTensor } from './scope.js';
import { backward as runBackward, type GradNode } from './autograd.js';
import { CpuStorage } from './cpu/storage.js';
import { tensorBundle } from './repr.js';

let nextId = 1;

/** Nested number arrays, as returned by `array()`. */
export type NestedArray = number | NestedArray[];

/**
 * An immutable n-dimensional array on a device. Ops return new tensors; `assign` is the one
 * in-place update (used by optimizers). Free GPU memory with `dispose()` or `scope()`.
 */
export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device;
  requiresGrad = false;
  /** Gradient accumulated by `backward()` on leaf tensors that require grad. */
  grad: Tensor | null = null;
  /** Autograd record of the op that produced this tensor (null for leaves). */
  gradNode: GradNode | null = null;
  /** Optional label shown in errors and displays (parameters get their names). */
  name: string | undefined;
  private store: Storage | null;

  constructor(device: Device, storage: Storage, shape: Shape, dtype: DType) {
    if (storage.size !== sizeOf(shape)) {
      throw new TensorError('Tensor', `storage holds ${storage.size} elements but shape ${fmtShape(shape)} needs ${sizeOf(shape)}`);
    }
    this.device = device;
    this.store = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    device.adopt(storage);
    trackTensor(this);
  }

  get size(): number {
    return this.store ? this.store.size : sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.store === null;
  }

  /** The backing storage; throws if the tensor was disposed. `op` names the caller in the error. */
  storage(op = 'Tensor'): Storage {
    if (!this.store) {
      throw new TensorError(op, `tensor${this.name ? ` '${this.name}'` : ''} ${fmtShape(this.shape)} (${this.dtype}) was disposed`);
    }
    return this.store;
  }

  /** Copy the values back to JavaScript. */
  async data(): Promise<AnyTypedArray> {
    return this.device.backend.read(this.storage('data'));
  }

  /** Values as nested arrays shaped like the tensor. */
  async array(): Promise<NestedArray> {
    const d = await this.data();
    return nest(d, this.shape, 0, 0);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new TensorError('item', `tensor has shape ${fmtShape(this.shape)}, not one element`);
    return (await this.data())[0]!;
  }

  dispose(): void {
    if (!this.store) return;
    this.device.release(this.store);
    this.store = null;
    this.gradNode = null;
    untrackTensor(this);
  }

  /**
   * Replace this tensor's values with `src`'s, taking over its storage (src is disposed).
   * Shapes, dtypes and devices must match. Keeps `requiresGrad`, drops any autograd record.
   */
  assign(src: Tensor): this {
    if (src === this) return this;
    const op = 'assign';
    if (src.device !== this.device) throw new TensorError(op, `cannot assign a ${src.device.kind} tensor to a ${this.device.kind} tensor`);
    if (src.dtype !== this.dtype) throw new TensorError(op, `dtype ${src.dtype} does not match ${this.dtype}`);
    if (src.shape.length !== this.shape.length || src.shape.some((d, i) => d !== this.shape[i])) {
      throw new TensorError(op, `shape ${fmtShape(src.shape)} does not match ${fmtShape(this.shape)}`);
    }
    const s = src.storage(op);
    this.device.release(this.storage(op));
    // Ownership moves: the device's counts already include `s` through `src`.
    this.store = s;
    src.store = null;
    src.gradNode = null;
    untrackTensor(src);
    this.gradNode = null;
    return this;
  }

  /** Mark this tensor as a trainable leaf. */
  requireGrad(flag = true): this {
    if (flag && this.dtype !== 'float32') throw new TensorError('requireGrad', `only float32 tensors can require grad, got ${this.dtype}`);
    this.requiresGrad = flag;
    return this;
  }

  /** Reverse-mode autograd from this tensor (a scalar unless `grad` is given). */
  backward(grad?: Tensor): void {
    runBackward(this, grad);
  }

  toString(): string {
    return `Tensor(${this.dtype} ${fmtShape(this.shape)} on ${this.device.kind}${this.requiresGrad ? ', requiresGrad' : ''}${this.isDisposed ? ', disposed' : ''})`;
  }

  /**
   * Mime bundle for notebooks: the header (dtype, shape, device, requiresGrad) and the values,
   * head and tail when large (repr.ts). Values on the CPU are read at once; a WebGPU tensor's need
   * an async read, which the kernel does through the method below.
   */
  [Symbol.for('Jupyter.display')](): Record<string, unknown> {
    const host = this.store instanceof CpuStorage ? this.store.data : null;
    const note = host || this.isDisposed ? '' : `(values on ${this.device.kind}: \`await t.array()\` reads them)`;
    return tensorBundle({ header: this.toString(), dtype: this.dtype, shape: this.shape }, host, note);
  }

  /**
   * The same bundle with the values read from the device (the kernel awaits it for results and
   * displays); null when the sync bundle already holds them (CPU) or there are none (disposed).
   */
  async [Symbol.for('attnlab.display.async')](): Promise<Record<string, unknown> | null> {
    if (this.isDisposed || this.store instanceof CpuStorage) return null;
    return tensorBundle({ header: this.toString(), dtype: this.dtype, shape: this.shape }, await this.data());
  }
}

function nest(d: AnyTypedArray, shape: Shape, dim: number, offset: number): NestedArray {
  if (dim === shape.length) return d[offset]!;
  const inner = sizeOf(shape.slice(dim + 1));
  const out: NestedArray[] = [];
  for (let i = 0; i < shape[dim]!; i++) out.push(nest(d, shape, dim + 1, offset + i * inner));
  return out;
}
