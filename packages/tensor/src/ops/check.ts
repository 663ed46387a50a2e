import { TensorError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor.js';

/** Throws unless `x` is a tensor: `add(null, t)` names the op and the argument, not a TypeError. */
export function requireTensor(op: string, what: string, x: unknown): asserts x is Tensor {
  const t = x as { storage?: unknown; shape?: unknown } | null;
  if (typeof t !== 'object' || t === null || typeof t.storage !== 'function' || !Array.isArray(t.shape)) {
    throw new TensorError(op, `${what} must be a Tensor, got ${describeValue(x)}`);
  }
}

/** Throws unless `x` is a tensor or a number (the operands of broadcasting ops). */
export function requireOperand(op: string, what: string, x: unknown): void {
  if (typeof x !== 'number') requireTensor(op, `${what}`, x);
}

export function describeValue(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return `an array (wrap it with tensor())`;
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 20 ? x.slice(0, 20) + '…' : x)}`;
  return typeof x === 'object' ? `an object (${Object.prototype.toString.call(x)})` : `${typeof x} ${String(x)}`;
}

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
