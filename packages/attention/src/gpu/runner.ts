/**
 * Host side of the WGSL kernels: pipeline cache, bind groups, dispatch. Works on any GPUDevice
 * and raw GPUBuffers so the tensor package's WebGPU backend (or a bare Dawn device in tests)
 * can drive it.
 */
import type { KernelSource } from '../wgsl/flash.js';

const pipelines = new WeakMap<GPUDevice, Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>>();

/** Number of pipelines compiled on a device (for cache tests). */
export function pipelineCount(device: GPUDevice): number {
  return pipelines.get(device)?.size ?? 0;
}

export function getPipeline(device: GPUDevice, src: KernelSource): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
  return cacheOf(device).get(src.code) ?? buildPipeline(device, src);
}

function cacheOf(device: GPUDevice): Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }> {
  let cache = pipelines.get(device);
  if (!cache) {
    cache = new Map();
    pipelines.set(device, cache);
  }
  return cache;
}

/**
 * Compile (and cache) each kernel, waiting for the device's verdict: a WGSL compile or pipeline
 * validation error rejects with `describe(message)` instead of reaching only the console while
 * the dispatch silently does nothing. Kernels already cached were checked when first built.
 */
export async function compileChecked(device: GPUDevice, srcs: KernelSource[], fail: (message: string) => Error): Promise<void> {
  const cache = cacheOf(device);
  for (const src of srcs) {
    if (cache.has(src.code)) continue;
    device.pushErrorScope('validation');
    device.pushErrorScope('internal');
    const hit = buildPipeline(device, src, false);
    const internal = await device.popErrorScope();
    const validation = await device.popErrorScope();
    const err = validation ?? internal;
    if (err) {
      const info = await hit.module.getCompilationInfo().catch(() => null);
      const msgs = info?.messages.filter((m) => m.type === 'error').map((m) => `line ${m.lineNum}: ${m.message}`) ?? [];
      throw fail(msgs.length ? msgs.slice(0, 3).join('; ') : err.message);
    }
    cache.set(src.code, { pipeline: hit.pipeline, layout: hit.layout });
  }
}

interface Built {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  module: GPUShaderModule;
}

/** Create the pipeline; cache it unless `store` is false (compileChecked caches only what passed). */
function buildPipeline(device: GPUDevice, src: KernelSource, store = true): Built {
  const entries: GPUBindGroupLayoutEntry[] = [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
    { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
    ...src.buffers.map((b, i) => ({
      binding: i + 2,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.access === 'read' ? ('read-only-storage' as const) : ('storage' as const) },
    })),
  ];
  const layout = device.createBindGroupLayout({ entries });
  const module = device.createShaderModule({ code: src.code });
  const pipeline = device.createComputePipeline({
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: 'main' },
  });
  if (store) cacheOf(device).set(src.code, { pipeline, layout });
  return { pipeline, layout, module };
}

export function createBufferFrom(device: GPUDevice, data: ArrayBufferView | ArrayBuffer, usage: number): GPUBuffer {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const size = Math.max(16, Math.ceil(bytes.byteLength / 16) * 16);
  const buf = device.createBuffer({ size, usage: usage | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Uint8Array(buf.getMappedRange()).set(bytes);
  buf.unmap();
  return buf;
}

export function createStorage(device: GPUDevice, bytes: number): GPUBuffer {
  return device.createBuffer({
    size: Math.max(16, Math.ceil(bytes / 16) * 16),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
}

/** Encode one dispatch (groups beyond 65535 in x are folded into y by the caller). */
export function encodeDispatch(
  device: GPUDevice, encoder: GPUCommandEncoder, src: KernelSource, params: GPUBuffer, aux: GPUBuffer, buffers: GPUBuffer[], groups: [number, number, number],
): void {
  if (buffers.length !== src.buffers.length) throw new Error(`internal: kernel wants ${src.buffers.length} buffers, got ${buffers.length}`);
  const { pipeline, layout } = getPipeline(device, src);
  const bind = device.createBindGroup({
    layout,
    entries: [
      { binding: 0, resource: { buffer: params } },
      { binding: 1, resource: { buffer: aux } },
      ...buffers.map((buffer, i) => ({ binding: i + 2, resource: { buffer } })),
    ],
  });
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
  pass.end();
}

export async function readBuffer(device: GPUDevice, buf: GPUBuffer, bytes: number): Promise<Float32Array> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = device.createBuffer({ size: Math.max(size, 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0, size));
  staging.unmap();
  staging.destroy();
  return out;
}
