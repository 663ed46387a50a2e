/// <reference types="@webgpu/types" />
import type { Backend, BinaryOp, MatmulSpec, ReduceOp, Storage, UnaryOp } from '../backend.js';
import type { AnyTypedArray, DType } from '../dtype.js';
import { TensorError } from '../errors.js';
import { sizeOf } from '../shape.js';
import type { FoundGPU } from './gpu.js';
import { BufferPool } from './pool.js';
import * as K from './wgsl.js';

/** A tensor's buffer on the GPU. `size` counts elements; the buffer may be larger (pooled). */
export class GpuStorage implements Storage {
  constructor(readonly buffer: GPUBuffer, readonly size: number, readonly dtype: DType) {}
}

export interface KernelCall {
  /** Pipeline cache key; the same key must always mean the same code. */
  key: string;
  code: string;
  entryPoint?: string;
  /** Bound in order: meta (if given) first, then inputs (read-only), then outputs (read_write). */
  meta?: Uint32Array;
  inputs: readonly Storage[];
  outputs: readonly Storage[];
  workgroups: readonly [number, number?, number?];
}

const FLUSH_EVERY = 48;

/**
 * The WebGPU device. Kernels are encoded into one command encoder and submitted in batches
 * (before any read or upload, and every FLUSH_EVERY passes). Freed buffers go to a pool.
 */
export class WebGPUBackend implements Backend {
  readonly kind = 'webgpu' as const;
  readonly adapter: string;
  readonly gpu: GPUDevice;
  lost = false;
  /**
   * 'tiled' (workgroup memory; the default on hardware) or 'simple' (barrier-free; the default on
   * software adapters, where barriers are slow). Tests run both.
   */
  matmulKernel: 'tiled' | 'simple';
  private lostReason = '';
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /** Compute dispatches encoded by this backend's kernels so far (benchmarks read it per step). */
  dispatches = 0;
  private readonly pool: BufferPool;
  private encoder: GPUCommandEncoder | null = null;
  private passes = 0;
  private transient: GPUBuffer[] = [];
  private readonly maxGroups: number;
  /** Index kernels' fault record (see wgsl.ts FAULT_WORDS), checked on every read. */
  private readonly fault: GpuStorage;

  constructor(found: FoundGPU) {
    this.gpu = found.device;
    this.adapter = found.adapterDescription;
    this.pool = new BufferPool(this.gpu, (b) => this.transient.push(b));
    const fb = this.gpu.createBuffer({ size: K.FAULT_WORDS * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: 'attnlab fault' });
    this.fault = new GpuStorage(fb, K.FAULT_WORDS, 'int32');
    this.maxGroups = found.limits['maxComputeWorkgroupsPerDimension'] ?? 65535;
    this.matmulKernel = found.isSoftware ? 'simple' : 'tiled';
    void this.gpu.lost.then((info) => {
      this.lost = true;
      this.lostReason = info.message || info.reason || 'unknown';
    });
    this.gpu.addEventListener?.('uncapturederror', (ev) => {
      console.error(`attnlab webgpu: ${(ev as GPUUncapturedErrorEvent).error.message}`);
    });
  }

  private check(): void {
    if (this.lost) throw new TensorError('webgpu', `device lost: ${this.lostReason}; call getDevice() for a fresh device`);
  }

  /** Uninitialised storage of `size` elements. */
  alloc(dtype: DType, size: number): GpuStorage {
    this.check();
    return new GpuStorage(this.pool.acquire(Math.max(4, size * 4)), size, dtype);
  }

  bufferOf(s: Storage): GPUBuffer {
    return (s as GpuStorage).buffer;
  }

  storageFromBuffer(buffer: GPUBuffer, size: number, dtype: DType): GpuStorage {
    return new GpuStorage(buffer, size, dtype);
  }

  private pipeline(key: string, code: string, entryPoint = 'main'): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.gpu.createShaderModule({ code, label: key });
      p = this.gpu.createComputePipeline({ layout: 'auto', compute: { module, entryPoint }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** Encode one compute dispatch; other packages use this for their own WGSL. */
  runKernel(call: KernelCall): void {
    this.check();
    const pipeline = this.pipeline(call.key, call.code, call.entryPoint);
    const buffers: GPUBuffer[] = [];
    if (call.meta) {
      const mb = this.gpu.createBuffer({ size: Math.max(16, call.meta.byteLength), usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
      new Uint32Array(mb.getMappedRange()).set(call.meta);
      mb.unmap();
      this.transient.push(mb);
      buffers.push(mb);
    }
    for (const s of [...call.inputs, ...call.outputs]) buffers.push(this.bufferOf(s));
    const bindGroup = this.gpu.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const enc = (this.encoder ??= this.gpu.createCommandEncoder());
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = call.workgroups;
    if (x > 0 && y > 0 && z > 0) {
      pass.dispatchWorkgroups(x, y, z);
      this.dispatches++;
    }
    pass.end();
    if (++this.passes >= FLUSH_EVERY) this.flush();
  }

  /** Submit encoded work. */
  flush(): void {
    if (!this.encoder) return;
    this.gpu.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.passes = 0;
    for (const b of this.transient) b.destroy();
    this.transient = [];
  }

  /** Workgroup grid for n threads of a 1-D kernel (2-D when over the per-dimension limit). */
  grid(n: number): [number, number] {
    const groups = Math.ceil(n / K.WG);
    if (groups <= this.maxGroups) return [Math.max(groups, 1), 1];
    const y = Math.ceil(groups / this.maxGroups);
    return [Math.ceil(groups / y), y];
  }

  private groups(n: number): [number, number] {
    if (n <= this.maxGroups) return [Math.max(n, 1), 1];
    const y = Math.ceil(n / this.maxGroups);
    return [Math.ceil(n / y), y];
  }

  private elementwise(key: string, code: string, meta: number[], inputs: Storage[], out: GpuStorage, n: number): GpuStorage {
    if (n > 0) this.runKernel({ key, code, meta: Uint32Array.from(meta), inputs, outputs: [out], workgroups: this.grid(n) });
    return out;
  }

  upload(data: AnyTypedArray): Storage {
    const s = this.alloc(data instanceof Int32Array ? 'int32' : 'float32', data.length);
    if (data.length > 0) {
      // Earlier encoded passes may still use this (recycled) buffer: submit them first.
      this.flush();
      this.gpu.queue.writeBuffer(s.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    }
    return s;
  }

  fill(dtype: DType, size: number, value: number): Storage {
    const out = this.alloc(dtype, size);
    const bits = new Uint32Array(dtype === 'int32' ? Int32Array.of(value).buffer : Float32Array.of(value).buffer)[0]!;
    return this.elementwise(`fill:${dtype}`, K.fillShader(dtype), [size, bits], [], out, size);
  }

  /**
   * Every read also fetches the fault record, so an out-of-range index raises the CPU device's
   * error at the first read after the op (the op itself cannot wait for the GPU).
   */
  async read(s: Storage): Promise<AnyTypedArray> {
    this.check();
    const bytes = s.size * 4;
    const fb = K.FAULT_WORDS * 4;
    const staging = this.gpu.createBuffer({ size: bytes + fb, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = (this.encoder ??= this.gpu.createCommandEncoder());
    if (bytes > 0) enc.copyBufferToBuffer(this.bufferOf(s), 0, staging, 0, bytes);
    enc.copyBufferToBuffer(this.fault.buffer, 0, staging, bytes, fb);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.check();
      throw new TensorError('webgpu', `reading a buffer failed: ${(e as Error).message}`);
    }
    const copy = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    this.raiseFault(new Uint32Array(copy, bytes, K.FAULT_WORDS));
    const data = copy.slice(0, bytes);
    return s.dtype === 'int32' ? new Int32Array(data) : new Float32Array(data);
  }

  /** Throws (once) the error an index kernel recorded, worded as the CPU device words it. */
  private raiseFault(f: Uint32Array): void {
    if (f[0] === 0) return;
    this.gpu.queue.writeBuffer(this.fault.buffer, 0, new Uint32Array(K.FAULT_WORDS));
    const op = K.FAULT_OPS[f[1]!] ?? 'index';
    const index = f[2]! | 0;
    const where = `(found by the WebGPU kernel, reported at the next read${f[0]! > 1 ? `; ${f[0]} bad indices in all` : ''})`;
    if (op === 'pick') throw new TensorError(op, `class index ${index} at position ${f[3]} is out of range for ${f[4]} classes ${where}`);
    throw new TensorError(op, `index ${index} at position ${f[3]} is out of range for ${f[4]} rows ${where}`);
  }

  free(s: Storage): void {
    const g = s as GpuStorage;
    if (this.lost) return;
    this.pool.release(g.buffer);
  }

  unary(op: UnaryOp, x: Storage, param = 0, param2 = 0): Storage {
    const out = this.alloc(x.dtype, x.size);
    const f = new Float32Array([param, param2]);
    const bits = new Uint32Array(f.buffer);
    return this.elementwise(`unary:${op}:${x.dtype}`, K.unaryShader(op, x.dtype), [x.size, bits[0]!, bits[1]!], [x], out, x.size);
  }

  private shapeMeta(outShape: readonly number[], ...strides: (readonly number[])[]): number[] {
    if (outShape.length > K.MAX_DIMS) throw new TensorError('webgpu', `tensors of rank ${outShape.length} exceed the ${K.MAX_DIMS} dims the kernels support`);
    const pad = (a: readonly number[]): number[] => [...a, ...Array<number>(K.MAX_DIMS - a.length).fill(0)];
    return [...pad(outShape), ...strides.flatMap(pad)];
  }

  binary(op: BinaryOp, a: Storage, aStrides: readonly number[], b: Storage, bStrides: readonly number[], outShape: readonly number[]): Storage {
    const n = sizeOf(outShape);
    const cmp = op === 'eq' || op === 'gt' || op === 'ge' || op === 'lt' || op === 'le';
    const outDtype: DType = cmp ? 'float32' : a.dtype;
    const out = this.alloc(outDtype, n);
    const meta = [n, outShape.length, ...this.shapeMeta(outShape, aStrides, bStrides)];
    return this.elementwise(`binary:${op}:${a.dtype}`, K.binaryShader(op, a.dtype, outDtype), meta, [a, b], out, n);
  }

  where(cond: Storage, cStrides: readonly number[], a: Storage, aStrides: readonly number[], b: Storage, bStrides: readonly number[], outShape: readonly number[]): Storage {
    const n = sizeOf(outShape);
    const out = this.alloc(a.dtype, n);
    const meta = [n, outShape.length, ...this.shapeMeta(outShape, aStrides, bStrides, cStrides)];
    return this.elementwise(`where:${a.dtype}`, K.whereShader(a.dtype), meta, [cond, a, b], out, n);
  }

  reduce(op: ReduceOp, x: Storage, outer: number, len: number, inner: number): Storage {
    const n = outer * inner;
    const out = this.alloc(op === 'argmax' ? 'int32' : x.dtype, n);
    if (n > 0 && len <= 256) {
      this.runKernel({
        key: `reduce-simple:${op}:${x.dtype}`, code: K.reduceSimpleShader(op, x.dtype), meta: Uint32Array.of(outer, len, inner),
        inputs: [x], outputs: [out], workgroups: this.grid(n),
      });
    } else if (n > 0) {
      this.runKernel({
        key: `reduce:${op}:${x.dtype}`, code: K.reduceShader(op, x.dtype), meta: Uint32Array.of(outer, len, inner),
        inputs: [x], outputs: [out], workgroups: this.groups(n),
      });
    }
    return out;
  }

  matmul(a: Storage, b: Storage, s: MatmulSpec): Storage {
    const out = this.alloc('float32', s.batch * s.m * s.n);
    if (out.size === 0) return out;
    if (s.k === 0) return this.fill('float32', out.size, 0);
    if (s.batch > this.maxGroups) throw new TensorError('matmul', `batch ${s.batch} exceeds the device's ${this.maxGroups} workgroups per dimension`);
    const meta = Uint32Array.of(s.m, s.k, s.n, s.aBatchStride, s.bBatchStride);
    if (this.matmulKernel === 'tiled') {
      this.runKernel({
        key: `matmul:${s.transA}:${s.transB}`, code: K.matmulShader(s.transA, s.transB), meta,
        inputs: [a, b], outputs: [out], workgroups: [Math.ceil(s.n / 64), Math.ceil(s.m / 64), s.batch],
      });
    } else {
      this.runKernel({
        key: `matmul-simple:${s.transA}:${s.transB}`, code: K.matmulSimpleShader(s.transA, s.transB), meta,
        inputs: [a, b], outputs: [out], workgroups: [Math.ceil(s.n / 64), Math.ceil(s.m / 16), s.batch],
      });
    }
    return out;
  }

  strided(x: Storage, shape: readonly number[], strides: readonly number[], offset: number): Storage {
    const n = sizeOf(shape);
    const out = this.alloc(x.dtype, n);
    const meta = [n, shape.length, offset, ...this.shapeMeta(shape, strides)];
    return this.elementwise(`strided:${x.dtype}`, K.stridedShader(x.dtype), meta, [x], out, n);
  }

  scatterInto(dst: Storage, src: Storage, srcShape: readonly number[], dstStrides: readonly number[], offset: number): Storage {
    const out = this.alloc(dst.dtype, dst.size);
    if (dst.size > 0) {
      const enc = (this.encoder ??= this.gpu.createCommandEncoder());
      enc.copyBufferToBuffer(this.bufferOf(dst), 0, out.buffer, 0, dst.size * 4);
    }
    const n = sizeOf(srcShape);
    const meta = [n, srcShape.length, offset, ...this.shapeMeta(srcShape, dstStrides)];
    return this.elementwise(`scatter:${dst.dtype}`, K.scatterShader(dst.dtype), meta, [src], out, n);
  }

  gatherRows(table: Storage, idx: Storage, rows: number, cols: number): Storage {
    const out = this.alloc(table.dtype, idx.size * cols);
    if (out.size > 0) {
      this.runKernel({ key: `gather:${table.dtype}`, code: K.gatherRowsShader(table.dtype), meta: Uint32Array.of(idx.size, rows, cols), inputs: [table, idx], outputs: [out, this.fault], workgroups: this.grid(out.size) });
    }
    return out;
  }

  scatterAddRows(g: Storage, idx: Storage, rows: number, cols: number): Storage {
    const out = this.alloc('float32', rows * cols);
    return this.elementwise('scatterAddRows', K.scatterAddRowsShader(), [idx.size, rows, cols], [g, idx], out, out.size);
  }

  pickLast(x: Storage, idx: Storage, n: number, c: number): Storage {
    const out = this.alloc('float32', n);
    if (n > 0) this.runKernel({ key: 'pick', code: K.pickShader(), meta: Uint32Array.of(n, c), inputs: [x, idx], outputs: [out, this.fault], workgroups: this.grid(n) });
    return out;
  }

  unpickLast(g: Storage, idx: Storage, n: number, c: number): Storage {
    const out = this.alloc('float32', n * c);
    return this.elementwise('unpick', K.unpickShader(), [n, c], [g, idx], out, n * c);
  }

  cast(x: Storage, to: DType): Storage {
    const out = this.alloc(to, x.size);
    return this.elementwise(`cast:${x.dtype}:${to}`, K.castShader(x.dtype, to), [x.size], [x], out, x.size);
  }

  async sync(): Promise<void> {
    await this.read(new GpuStorage(this.fault.buffer, 0, 'int32'));
  }

  destroy(): void {
    this.flush();
    this.pool.clear();
    this.gpu.destroy();
  }
}
