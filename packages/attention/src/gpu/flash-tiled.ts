/**
 * Run the cooperative-tile flash forward (wgsl/flash-tiled.ts) on GPUBuffers, and for one query
 * row (decode) its split-K form; the backward is gpu/flash.ts's, fed by the same stats.
 */
import type { FlashPlan } from '../flash-plan.js';
import type { KernelSource } from '../wgsl/flash.js';
import { flashSplitCombineSource, flashSplitPartialSource, flashTiledForwardSource, splitShape, splitStride, tiledShape } from '../wgsl/flash-tiled.js';
import { flashSources, type FlashGpuState } from './flash.js';
import { compileChecked, createStorage, encodeDispatch } from './runner.js';

/**
 * Workgroups per head for split-K: Nq = 1 only, about two key blocks each, a power of two up to 32
 * (few distinct pipelines); 1 means the one-pass kernel.
 */
export function splitsFor(plan: FlashPlan): number {
  if (plan.dims.Nq !== 1) return 1;
  const blocks = plan.params.nKB;
  let s = 1;
  while (s < 32 && s * 2 <= Math.ceil(blocks / 2)) s *= 2;
  return s;
}

function forwardSources(device: GPUDevice, plan: FlashPlan): KernelSource[] {
  const splits = splitsFor(plan);
  if (splits > 1) return [flashSplitPartialSource(plan.fwd, splits, splitShape(plan.fwd)), flashSplitCombineSource(plan.fwd, splits)];
  const sg = device.features.has('subgroups');
  return [flashTiledForwardSource(plan.fwd, tiledShape(plan.fwd, sg), sg)];
}

/** Compile the tiled forward (and the backward kernels with `backward`); a rejected shader rejects with fail(message). */
export function prepareFlashTiledGpu(device: GPUDevice, plan: FlashPlan, backward: boolean, fail: (message: string) => Error): Promise<void> {
  return compileChecked(device, [...forwardSources(device, plan), ...(backward ? flashSources(plan, true).slice(1) : [])], fail);
}

/** Same contract as flashForwardGpu: out [B,Hq,Nq,Dv], lse [B,Hq,Nq], stats [m (R), log(sum) (R)]. */
export function flashForwardTiledGpu(
  device: GPUDevice, plan: FlashPlan, st: FlashGpuState, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer,
  outputs?: { out: GPUBuffer; lse: GPUBuffer; stats?: GPUBuffer },
): { out: GPUBuffer; lse: GPUBuffer; stats: GPUBuffer } {
  const { B, Hq, Nq } = plan.dims;
  const DV = plan.fwd.DV;
  const out = outputs?.out ?? createStorage(device, B * Hq * Nq * DV * 4);
  const lse = outputs?.lse ?? createStorage(device, B * Hq * Nq * 4);
  const stats = outputs?.stats ?? createStorage(device, 2 * B * Hq * Nq * 4);
  const enc = device.createCommandEncoder();
  const splits = splitsFor(plan);
  let partials: GPUBuffer | null = null;
  if (splits > 1) {
    const [partial, combine] = forwardSources(device, plan) as [KernelSource, KernelSource];
    partials = createStorage(device, B * Hq * splits * splitStride(DV) * 4);
    encodeDispatch(device, enc, partial, st.params, st.aux, [q, k, v, partials], [splits, Hq, B]);
    encodeDispatch(device, enc, combine, st.params, st.aux, [partials, out, lse, stats], [Hq, B, 1]);
  } else {
    const sg = device.features.has('subgroups');
    const shape = tiledShape(plan.fwd, sg);
    encodeDispatch(device, enc, flashTiledForwardSource(plan.fwd, shape, sg), st.params, st.aux, [q, k, v, out, lse, stats], [Math.ceil(Nq / shape.BR), Hq, B]);
  }
  device.queue.submit([enc.finish()]);
  // Safe after submit: WebGPU keeps buffers alive until the queued work completes.
  partials?.destroy();
  return { out, lse, stats };
}
