import type { ReduceOp } from '../backend.js';
import { record } from '../autograd.js';
import { TensorError, fmtShape } from '../errors.js';
import { normAxis, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { requireFloat, requireTensor } from './check.js';
import { fromStorage } from './create.js';
import { abs, add, div, equal, exp, less, log, mul, mulScalar, sub, where } from './elementwise.js';
import { broadcastTo, reshape } from './layout.js';

export type Axes = number | readonly number[] | undefined;

function axesOf(op: string, x: Tensor, axes: Axes): number[] {
  requireTensor(op, 'x', x);
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const norm = list.map((a) => normAxis(op, a, x.rank));
  if (new Set(norm).size !== norm.length) throw new TensorError(op, `repeated axis in ${JSON.stringify(list)}`);
  return norm.sort((a, b) => a - b);
}

function keptShape(shape: readonly number[], axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Reduce the listed axes one at a time on the device; result keeps reduced dims as 1. */
function reduceRaw(op: ReduceOp, x: Tensor, axes: number[]): Tensor {
  let cur = x;
  let shape = [...x.shape];
  for (let j = axes.length - 1; j >= 0; j--) {
    const a = axes[j]!;
    const len = shape[a]!;
    if (len === 0 && op !== 'sum') throw new TensorError(op, `cannot reduce an empty axis ${a} of ${fmtShape(x.shape)}`);
    const outer = sizeOf(shape.slice(0, a));
    const inner = sizeOf(shape.slice(a + 1));
    const s = x.device.backend.reduce(op, cur.storage(op), outer, len, inner);
    shape[a] = 1;
    const next = fromStorage(x.device, s, shape, s.dtype);
    if (cur !== x) cur.dispose();
    cur = next;
    shape = [...shape];
  }
  if (cur === x) {
    // No axes: a copy so the result is a new tensor.
    cur = fromStorage(x.device, x.device.backend.strided(x.storage(op), [x.size], [1], 0), x.shape, x.dtype);
  }
  return cur;
}

function finish(kept: Tensor, x: Tensor, axes: number[], keepDims: boolean): Tensor {
  if (keepDims) return kept;
  const r = reshape(kept, x.shape.filter((_, i) => !axes.includes(i)));
  return r;
}

export function sum(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const ax = axesOf('sum', x, axes);
  const kept = reduceRaw('sum', x, ax);
  record(kept, 'sum', [x], (g) => [broadcastTo(g, x.shape)]);
  return finish(kept, x, ax, keepDims);
}

export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  requireFloat('mean', x);
  const ax = axesOf('mean', x, axes);
  const n = ax.reduce((p, a) => p * x.shape[a]!, 1);
  return mulScalar(sum(x, ax, keepDims), 1 / n);
}

function extreme(op: 'max' | 'min', x: Tensor, axes: Axes, keepDims: boolean): Tensor {
  const ax = axesOf(op, x, axes);
  const kept = reduceRaw(op, x, ax);
  record(kept, op, [x], (g) => {
    // Gradient goes to every position equal to the extreme.
    const mask = equal(x, kept);
    return [mul(broadcastTo(g, x.shape), mask)];
  });
  return finish(kept, x, ax, keepDims);
}

export const max = (x: Tensor, axes?: Axes, keepDims = false): Tensor => extreme('max', x, axes, keepDims);
export const min = (x: Tensor, axes?: Axes, keepDims = false): Tensor => extreme('min', x, axes, keepDims);

/** Index of the largest value along one axis (int32, no gradient). */
export function argmax(x: Tensor, axis = -1, keepDims = false): Tensor {
  requireTensor('argmax', 'x', x);
  const a = normAxis('argmax', axis, x.rank);
  return finish(reduceRaw('argmax', x, [a]), x, [a], keepDims);
}

/** log(sum(exp(x))) along axes, computed stably. */
export function logsumexp(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  requireFloat('logsumexp', x);
  const ax = axesOf('logsumexp', x, axes);
  // The shift is a constant for autograd: lse's gradient does not depend on it. An infinite max
  // shifts by 0 (PyTorch's rule), so a row of -Infinity gives -Infinity and +Infinity gives
  // +Infinity instead of NaN from inf - inf; a NaN max stays and propagates.
  const m0 = reduceRaw('max', x, ax);
  const mAbs = abs(m0);
  const finite = less(mAbs, Infinity);
  const m = where(finite, m0, 0);
  for (const t of [m0, mAbs, finite]) t.dispose();
  const shifted = sub(x, m);
  const lse = add(log(sum(exp(shifted), ax, true)), m);
  return finish(lse, x, ax, keepDims);
}

export function softmax(x: Tensor, axis = -1): Tensor {
  requireTensor('softmax', 'x', x);
  requireFloat('softmax', x);
  const a = normAxis('softmax', axis, x.rank);
  const m = reduceRaw('max', x, [a]);
  const e = exp(sub(x, m));
  return div(e, sum(e, a, true));
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const a = normAxis('logSoftmax', axis, x.rank);
  return sub(x, logsumexp(x, a, true));
}

/** Population variance along axes. */
export function variance(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const ax = axesOf('variance', x, axes);
  const mu = mean(x, ax, true);
  const d = sub(x, mu);
  return mean(mul(d, d), ax, keepDims);
}
