/** A bare Dawn GPUDevice for kernel tests (SwiftShader when there is no GPU). */
import { existsSync } from 'node:fs';

let cached: Promise<GPUDevice | null> | null = null;
// Dawn tears the instance down when the GPU object is garbage collected, which crashes any
// device still in use: keep a strong reference for the life of the process.
let keepAlive: GPU | null = null;

export function gpuInstance(): GPU | null {
  return keepAlive;
}

export function testDevice(): Promise<GPUDevice | null> {
  if (!cached) {
    cached = (async () => {
      if (!process.env['VK_ICD_FILENAMES'] && existsSync('/usr/lib/chromium/vk_swiftshader_icd.json')) {
        process.env['VK_ICD_FILENAMES'] = '/usr/lib/chromium/vk_swiftshader_icd.json';
      }
      try {
        const { create, globals } = (await import('webgpu')) as unknown as { create: (o: string[]) => GPU; globals: Record<string, unknown> };
        Object.assign(globalThis, globals);
        const gpu = create([]);
        keepAlive = gpu;
        const adapter = await gpu.requestAdapter();
        if (!adapter) return null;
        // Default limits on purpose: kernels must fit what every WebGPU device offers.
        const device = await adapter.requestDevice();
        device.addEventListener('uncapturederror', (e) => console.error('WebGPU error:', (e as GPUUncapturedErrorEvent).error.message));
        return device;
      } catch (e) {
        console.warn('no WebGPU device for kernel tests:', (e as Error).message);
        return null;
      }
    })();
  }
  return cached;
}

export async function checkErrors<T>(device: GPUDevice, fn: () => Promise<T>): Promise<T> {
  device.pushErrorScope('validation');
  const r = await fn();
  const err = await device.popErrorScope();
  if (err) throw new Error(`WebGPU validation error: ${err.message}`);
  return r;
}
