/**
 * Shared memory for CPU tensors, for data-parallel training across worker threads: parameters
 * live in SharedArrayBuffers that every thread's model views, so the optimizer's in-place
 * update on one thread is what all threads read next step.
 */
import { TensorError, fmtShape } from '../errors.js';
import { fromStorage } from '../ops/create.js';
import type { Tensor } from '../tensor.js';
import { CpuStorage, cpuData } from './storage.js';
import { keepOut } from './pool.js';

function requireCpuFloat(op: string, t: Tensor): void {
  if (t.device.kind !== 'cpu') throw new TensorError(op, `needs a CPU tensor, got one on ${t.device.kind}`);
  if (t.dtype !== 'float32') throw new TensorError(op, `needs a float32 tensor, got ${t.dtype} ${fmtShape(t.shape)}`);
}

/** Make `t` (CPU, float32) view `data` from now on (e.g. a Float32Array on a SharedArrayBuffer); no copy. */
export function useCpuMemory(t: Tensor, data: Float32Array): Tensor {
  const op = 'useCpuMemory';
  requireCpuFloat(op, t);
  if (data.length !== t.size) throw new TensorError(op, `${data.length} floats given for tensor ${fmtShape(t.shape)} (${t.size})`);
  const keepGrad = t.requiresGrad;
  // The caller keeps using `data`: it must never be recycled for another tensor.
  keepOut(data);
  t.assign(fromStorage(t.device, new CpuStorage(data), t.shape, 'float32'));
  t.requiresGrad = keepGrad;
  return t;
}

/** Move a CPU float32 tensor's values into a new SharedArrayBuffer (in place) and return its view. */
export function shareCpuMemory(t: Tensor): Float32Array {
  requireCpuFloat('shareCpuMemory', t);
  const view = new Float32Array(new SharedArrayBuffer(t.size * 4));
  view.set(cpuData(t.storage('shareCpuMemory')) as Float32Array);
  useCpuMemory(t, view);
  return view;
}

/**
 * The values of a CPU tensor without a copy (read-only by convention; for host-side reductions).
 * Valid while the tensor lives: a disposed tensor's memory is reused by later ops.
 */
export function cpuView(t: Tensor): Float32Array {
  requireCpuFloat('cpuView', t);
  return cpuData(t.storage('cpuView')) as Float32Array;
}

/** t += src elementwise, in place (gradient accumulation from other threads). */
export function addIntoCpu(t: Tensor, src: Float32Array): void {
  requireCpuFloat('addIntoCpu', t);
  const d = cpuData(t.storage('addIntoCpu')) as Float32Array;
  if (src.length !== d.length) throw new TensorError('addIntoCpu', `${src.length} floats given for tensor ${fmtShape(t.shape)} (${d.length})`);
  for (let i = 0; i < d.length; i++) d[i] = d[i]! + src[i]!;
}
