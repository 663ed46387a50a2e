import { record, type GradNode } from '../autograd.js';
import type { Tensor } from '../tensor.js';
import { fromStorage } from './create.js';

/**
 * Connect a tensor computed by your own kernel to autograd: `backward` maps the gradient of
 * `out` to gradients of `inputs` (null for none). Used by packages with fused kernels
 * (flash attention) whose backward is another kernel.
 */
export function customGrad(out: Tensor, op: string, inputs: readonly Tensor[], backward: GradNode['backward']): Tensor {
  return record(out, op, inputs, backward);
}

/** A tensor that shares no autograd history with x (a copy). */
export function detach(x: Tensor): Tensor {
  const s = x.storage('detach');
  return fromStorage(x.device, x.device.backend.strided(s, [s.size], [1], 0), x.shape, x.dtype);
}

export function cast(x: Tensor, dtype: 'float32' | 'int32'): Tensor {
  if (x.dtype === dtype) return detach(x);
  return fromStorage(x.device, x.device.backend.cast(x.storage('cast'), dtype), x.shape, dtype);
}
