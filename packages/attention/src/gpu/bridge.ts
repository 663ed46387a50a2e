/** Access to @attnlab/tensor's WebGPU backend: its GPUDevice and tensors' buffers. */
import { fromStorage, TensorError, type Device, type Storage, type Tensor } from '@attnlab/tensor';

export interface GpuBackendLike {
  gpu: GPUDevice;
  bufferOf(s: Storage): GPUBuffer;
  alloc(dtype: 'float32' | 'int32', size: number): Storage;
  /** Submit the backend's queued work, so our submissions run after it. */
  flush(): void;
}

export function gpuBackend(device: Device, op: string): GpuBackendLike {
  const b = device.backend as unknown as Partial<GpuBackendLike>;
  if (device.kind !== 'webgpu' || !b.gpu || typeof b.bufferOf !== 'function' || typeof b.alloc !== 'function' || typeof b.flush !== 'function') {
    throw new TensorError(op, `device ${device.kind} does not expose a WebGPU device and buffers`);
  }
  return b as GpuBackendLike;
}

/** A fresh float32 (or int32) tensor on the device with its GPUBuffer (contents undefined until a kernel writes them). */
export function allocTensor(device: Device, be: GpuBackendLike, shape: readonly number[], dtype: 'float32' | 'int32' = 'float32'): { t: Tensor; buf: GPUBuffer } {
  const size = shape.reduce((a, b) => a * b, 1);
  const s = be.alloc(dtype, size);
  return { t: fromStorage(device, s, shape, dtype), buf: be.bufferOf(s) };
}

export function bufferOfTensor(be: GpuBackendLike, t: Tensor, op: string): GPUBuffer {
  return be.bufferOf(t.storage(op));
}
