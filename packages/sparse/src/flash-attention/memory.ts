/**
 * Memory a call allocates, measured two ways: the device's tensor-storage peak (Device.stats,
 * every tensor a kernel returns or uses internally through tensor ops) and, on WebGPU, the
 * largest single GPUBuffer created during the call (raw kernel buffers that are not tensors:
 * block tables, scratch). "No n x n buffer" means both stay O(n).
 */
import type { Device } from '@attnlab/tensor';

export interface MemoryUse {
  /** Peak tensor-storage bytes above what was live before the call. */
  peakBytes: number;
  /** Largest GPUBuffer created during the call (WebGPU only; null on the CPU). */
  largestBufferBytes: number | null;
}

interface GpuHolder {
  gpu?: GPUDevice;
}

export async function measureMemory<T>(device: Device, fn: () => Promise<T> | T): Promise<{ result: T; memory: MemoryUse }> {
  await device.sync();
  const before = device.stats.bytes;
  device.resetPeak();
  const gpu = device.kind === 'webgpu' ? (device.backend as unknown as GpuHolder).gpu ?? null : null;
  let largest = 0;
  let restore: (() => void) | null = null;
  if (gpu) {
    // Shadow createBuffer on this device object for the duration of the call only.
    const orig = gpu.createBuffer;
    const patched = function (this: GPUDevice, desc: GPUBufferDescriptor): GPUBuffer {
      if (desc.size > largest) largest = desc.size;
      return orig.call(this, desc);
    };
    Object.defineProperty(gpu, 'createBuffer', { value: patched, configurable: true, writable: true });
    restore = () => void delete (gpu as unknown as Record<string, unknown>)['createBuffer'];
  }
  try {
    const result = await fn();
    await device.sync();
    return { result, memory: { peakBytes: device.stats.peakBytes - before, largestBufferBytes: gpu ? largest : null } };
  } finally {
    restore?.();
  }
}
