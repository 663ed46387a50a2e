/** Run the cooperative-tile flash forward (wgsl/flash-tiled.ts) on GPUBuffers; the backward is gpu/flash.ts's. */
import type { FlashPlan } from '../flash-plan.js';
import { flashTiledForwardSource, tiledShape } from '../wgsl/flash-tiled.js';
import { flashSources, type FlashGpuState } from './flash.js';
import { compileChecked, createStorage, encodeDispatch } from './runner.js';

/** Compile the tiled forward (and the backward kernels with `backward`); a rejected shader rejects with fail(message). */
export function prepareFlashTiledGpu(device: GPUDevice, plan: FlashPlan, backward: boolean, fail: (message: string) => Error): Promise<void> {
  const srcs = [flashTiledForwardSource(plan.fwd), ...(backward ? flashSources(plan, true).slice(1) : [])];
  return compileChecked(device, srcs, fail);
}

/** Same contract as flashForwardGpu: out [B,Hq,Nq,D], lse [B,Hq,Nq], stats [m (R), log(sum) (R)]. */
export function flashForwardTiledGpu(
  device: GPUDevice, plan: FlashPlan, st: FlashGpuState, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer,
  outputs?: { out: GPUBuffer; lse: GPUBuffer; stats?: GPUBuffer },
): { out: GPUBuffer; lse: GPUBuffer; stats: GPUBuffer } {
  const { B, Hq, Nq, D } = plan.dims;
  const out = outputs?.out ?? createStorage(device, B * Hq * Nq * D * 4);
  const lse = outputs?.lse ?? createStorage(device, B * Hq * Nq * 4);
  const stats = outputs?.stats ?? createStorage(device, 2 * B * Hq * Nq * 4);
  const shape = tiledShape(plan.fwd);
  const enc = device.createCommandEncoder();
  encodeDispatch(device, enc, flashTiledForwardSource(plan.fwd, shape), st.params, st.aux, [q, k, v, out, lse, stats], [Math.ceil(Nq / shape.BR), Hq, B]);
  device.queue.submit([enc.finish()]);
  return { out, lse, stats };
}
