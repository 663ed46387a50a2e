/** Moving values between @attnlab/tensor tensors and the plain arrays our kernels use. */
import { tensor, TensorError, type Device, type Storage, type Tensor } from '@attnlab/tensor';

/** Synchronous float32 view of a CPU tensor (no copy). */
export function cpuArray(t: Tensor, op: string): Float32Array {
  if (t.device.kind !== 'cpu') throw new TensorError(op, `needs a CPU tensor here, got one on ${t.device.kind}`);
  const backend = t.device.backend as unknown as { readSync?: (s: Storage) => Float32Array | Int32Array };
  if (!backend.readSync) throw new TensorError(op, 'the CPU backend has no synchronous read');
  const a = backend.readSync(t.storage(op));
  if (!(a instanceof Float32Array)) throw new TensorError(op, `expected float32 data, got ${t.dtype}`);
  return a;
}

/** Float32 values of any tensor (CPU: a view; GPU: a read-back copy). */
export async function hostArray(t: Tensor, op: string): Promise<Float32Array> {
  if (t.device.kind === 'cpu') return cpuArray(t, op);
  const d = await t.data();
  if (!(d instanceof Float32Array)) throw new TensorError(op, `expected float32 data, got ${t.dtype}`);
  return d;
}

export function fromHost(device: Device, data: Float32Array, shape: readonly number[]): Tensor {
  return tensor(data, shape, { device });
}
