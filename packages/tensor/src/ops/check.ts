import { TensorError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor.js';

export function sameDevice(op: string, ...ts: Tensor[]): void {
  const d = ts[0]!.device;
  for (const t of ts) {
    if (t.device !== d) {
      throw new TensorError(op, `tensors are on different devices (${ts.map((x) => `${x.device.kind} ${fmtShape(x.shape)}`).join(', ')}); move them with toDevice()`);
    }
  }
}

export function requireFloat(op: string, t: Tensor): void {
  if (t.dtype !== 'float32') throw new TensorError(op, `expects float32, got ${t.dtype} tensor ${fmtShape(t.shape)}`);
}

export function requireInt(op: string, t: Tensor): void {
  if (t.dtype !== 'int32') throw new TensorError(op, `expects int32 indices, got ${t.dtype} tensor ${fmtShape(t.shape)}`);
}

export function sameDtype(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new TensorError(op, `dtypes differ: ${a.dtype} ${fmtShape(a.shape)} vs ${b.dtype} ${fmtShape(b.shape)}`);
  }
}
