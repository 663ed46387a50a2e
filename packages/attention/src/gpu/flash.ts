/** Run the flash kernels on GPUBuffers (layout [B, H, N, D], f32). */
import type { FlashPlan } from '../flash-plan.js';
import {
  flashBackwardDkvSource, flashBackwardDqSource, flashForwardSource, flashPreprocessSource, packFlashParams,
} from '../wgsl/flash.js';
import type { KernelSource } from '../wgsl/flash.js';
import { compileChecked, createBufferFrom, createStorage, encodeDispatch } from './runner.js';

/** Upload the plan's params and aux once; reuse for forward and backward. */
export interface FlashGpuState {
  params: GPUBuffer;
  aux: GPUBuffer;
}

export function uploadPlan(device: GPUDevice, plan: FlashPlan): FlashGpuState {
  return {
    params: createBufferFrom(device, packFlashParams(plan.params), GPUBufferUsage.UNIFORM),
    aux: createBufferFrom(device, plan.aux, GPUBufferUsage.STORAGE),
  };
}

export function destroyPlan(st: FlashGpuState): void {
  st.params.destroy();
  st.aux.destroy();
}

/** The kernels a forward (and, with `backward`, a backward) pass of the plan runs. */
export function flashSources(plan: FlashPlan, backward: boolean): KernelSource[] {
  const fwd = [flashForwardSource(plan.fwd)];
  if (!backward) return fwd;
  return [...fwd, flashPreprocessSource({ D: plan.fwd.DV, sigmoid: plan.fwd.sigmoid }), flashBackwardDqSource(plan.fwd), flashBackwardDkvSource(plan.dkv)];
}

/**
 * Compile the plan's kernels before anything is dispatched; a shader the device rejects (a mod
 * that emits invalid WGSL, say) rejects with `fail(message)` instead of running as a no-op.
 */
export function prepareFlashGpu(device: GPUDevice, plan: FlashPlan, backward: boolean, fail: (message: string) => Error): Promise<void> {
  return compileChecked(device, flashSources(plan, backward), fail);
}

/**
 * Encode the forward pass; returns out [B,Hq,Nq,Dv], lse [B,Hq,Nq] and the backward's row stats
 * [m (R), log(sum) (R)] with R = B*Hq*Nq (fresh buffers unless given).
 */
export function flashForwardGpu(
  device: GPUDevice, plan: FlashPlan, st: FlashGpuState, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer,
  outputs?: { out: GPUBuffer; lse: GPUBuffer; stats?: GPUBuffer },
): { out: GPUBuffer; lse: GPUBuffer; stats: GPUBuffer } {
  const { B, Hq, Nq } = plan.dims;
  const out = outputs?.out ?? createStorage(device, B * Hq * Nq * plan.fwd.DV * 4);
  const lse = outputs?.lse ?? createStorage(device, B * Hq * Nq * 4);
  const stats = outputs?.stats ?? createStorage(device, 2 * B * Hq * Nq * 4);
  const enc = device.createCommandEncoder();
  encodeDispatch(device, enc, flashForwardSource(plan.fwd), st.params, st.aux, [q, k, v, out, lse, stats], [Math.ceil(Nq / plan.fwd.BR), Hq, B]);
  device.queue.submit([enc.finish()]);
  return { out, lse, stats };
}

/**
 * Encode the backward pass for upstream dOut (and dLse, or null), from the forward's out and
 * row stats. Returns fresh dq, dk, dv.
 */
export function flashBackwardGpu(
  device: GPUDevice, plan: FlashPlan, st: FlashGpuState, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, out: GPUBuffer, fwdStats: GPUBuffer,
  dOut: GPUBuffer, dLse: GPUBuffer | null, outputs?: { dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer },
  /** Zeroed f32 buffer of plan.capGrad.words: gradients into captured tensors are added here. */
  capGrad?: GPUBuffer,
): { dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer } {
  const { B, Hq, Hkv, Nq, Nk, D } = plan.dims;
  if (plan.fwd.capGradCode && !capGrad) throw new Error('internal: the plan sends gradients to captured tensors but no buffer was given');
  const R = B * Hq * Nq;
  const stats = createStorage(device, 4 * R * 4); // [m, log(sum), delta', dO scale] per row
  const zeros = dLse ?? createStorage(device, R * 4);
  const dq = outputs?.dq ?? createStorage(device, R * D * 4);
  const dk = outputs?.dk ?? createStorage(device, B * Hkv * Nk * D * 4);
  const dv = outputs?.dv ?? createStorage(device, B * Hkv * Nk * plan.fwd.DV * 4);
  const enc = device.createCommandEncoder();
  const groups = Math.ceil(R / 64);
  encodeDispatch(device, enc, flashPreprocessSource({ D: plan.fwd.DV, sigmoid: plan.fwd.sigmoid }), st.params, st.aux, [out, dOut, fwdStats, zeros, stats], [Math.min(groups, 65535), Math.ceil(groups / 65535), 1]);
  encodeDispatch(device, enc, flashBackwardDqSource(plan.fwd), st.params, st.aux, [q, k, v, dOut, stats, dq, ...(plan.fwd.capGradCode ? [capGrad!] : [])], [Math.ceil(Nq / plan.fwd.BR), Hq, B]);
  encodeDispatch(device, enc, flashBackwardDkvSource(plan.dkv), st.params, st.aux, [q, k, v, dOut, stats, dk, dv], [Math.ceil(Nk / plan.dkv.BR), Hkv, B]);
  device.queue.submit([enc.finish()]);
  // Safe to destroy after submit: WebGPU keeps buffers alive until queued work completes.
  stats.destroy();
  if (!dLse) zeros.destroy();
  return { dq, dk, dv };
}
