import { record } from '../autograd.js';
import { TensorError, fmtShape } from '../errors.js';
import { broadcastShapes, broadcastStrides, normAxis, shapesEqual, sizeOf, stridesOf, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { requireTensor, sameDevice, sameDtype } from './check.js';
import { fromStorage, full } from './create.js';
import { sumTo } from './elementwise.js';

function copyStrided(x: Tensor, op: string, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  return fromStorage(x.device, x.device.backend.strided(x.storage(op), shape, strides, offset), shape, x.dtype);
}

/** Same values, new shape (one dim may be -1). Always returns a new tensor. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const op = 'reshape';
  requireTensor(op, 'x', x);
  if (!Array.isArray(shape)) throw new TensorError(op, `shape must be an array of dims, got ${String(shape)}`);
  shape.forEach((d, i) => {
    if (!(Number.isInteger(d) && (d >= 0 || d === -1))) {
      throw new TensorError(op, `shape ${fmtShape(shape)}: dim ${i} is ${String(d)}; dims must be non-negative integers (one may be -1)`);
    }
  });
  const known = shape.filter((d) => d !== -1);
  const free = shape.length - known.length;
  if (free > 1) throw new TensorError(op, `at most one -1 allowed in ${fmtShape(shape)}`);
  let target = [...shape];
  if (free === 1) {
    const k = sizeOf(known);
    if (k === 0 || x.size % k !== 0) throw new TensorError(op, `cannot reshape ${fmtShape(x.shape)} into ${fmtShape(shape)}`);
    target = shape.map((d) => (d === -1 ? x.size / k : d));
  }
  if (sizeOf(target) !== x.size) throw new TensorError(op, `cannot reshape ${fmtShape(x.shape)} (${x.size} elements) into ${fmtShape(shape)}`);
  const r = fromStorage(x.device, x.device.backend.strided(x.storage(op), [x.size], [1], 0), target, x.dtype);
  return record(r, op, [x], (g) => [reshape(g, x.shape)]);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const op = 'permute';
  if (perm.length !== x.rank || new Set(perm.map((p) => normAxis(op, p, x.rank))).size !== x.rank) {
    throw new TensorError(op, `${JSON.stringify(perm)} is not a permutation of the ${x.rank} dims of ${fmtShape(x.shape)}`);
  }
  const p = perm.map((a) => normAxis(op, a, x.rank));
  const st = stridesOf(x.shape);
  const out = copyStrided(x, op, p.map((a) => x.shape[a]!), p.map((a) => st[a]!), 0);
  const inv = new Array<number>(p.length);
  p.forEach((a, i) => (inv[a] = i));
  return record(out, op, [x], (g) => [permute(g, inv)]);
}

/** Swap two dims (default: the last two). */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  if (x.rank < 2) throw new TensorError('transpose', `needs rank >= 2, got ${fmtShape(x.shape)}`);
  const perm = x.shape.map((_, i) => i);
  const a = normAxis('transpose', dim0, x.rank);
  const b = normAxis('transpose', dim1, x.rank);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** x[begin_d : begin_d + size_d] in each dim; size -1 means to the end. */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  const op = 'slice';
  if (begin.length > x.rank || (size && size.length > x.rank)) {
    throw new TensorError(op, `begin ${JSON.stringify(begin)} / size ${JSON.stringify(size)} have more dims than ${fmtShape(x.shape)}`);
  }
  const b = x.shape.map((_, i) => begin[i] ?? 0);
  const sz = x.shape.map((d, i) => {
    const s = size?.[i] ?? -1;
    return s === -1 ? d - b[i]! : s;
  });
  x.shape.forEach((d, i) => {
    if (b[i]! < 0 || sz[i]! < 0 || b[i]! + sz[i]! > d) {
      throw new TensorError(op, `range [${b[i]}, ${b[i]! + sz[i]!}) is out of bounds for dim ${i} of ${fmtShape(x.shape)}`);
    }
  });
  const st = stridesOf(x.shape);
  const offset = b.reduce((acc, v, i) => acc + v * st[i]!, 0);
  const out = copyStrided(x, op, sz, st, offset);
  return record(out, op, [x], (g) => {
    const z = full(x.shape, 0, { device: x.device });
    const s = x.device.backend.scatterInto(z.storage(op), g.storage(op), sz, st, offset);
    z.dispose();
    return [fromStorage(x.device, s, x.shape, 'float32')];
  });
}

export function concat(ts: readonly Tensor[], axis = 0): Tensor {
  const op = 'concat';
  if (ts.length === 0) throw new TensorError(op, 'needs at least one tensor');
  const first = ts[0]!;
  sameDevice(op, ...ts);
  const a = normAxis(op, axis, first.rank);
  for (const t of ts) {
    sameDtype(op, first, t);
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new TensorError(op, `shapes ${ts.map((u) => fmtShape(u.shape)).join(', ')} differ outside axis ${a}`);
    }
  }
  const shape = [...first.shape];
  shape[a] = ts.reduce((p, t) => p + t.shape[a]!, 0);
  const st = stridesOf(shape);
  let cur = full(shape, 0, { device: first.device, dtype: first.dtype });
  let pos = 0;
  const offsets: number[] = [];
  for (const t of ts) {
    offsets.push(pos);
    const s = first.device.backend.scatterInto(cur.storage(op), t.storage(op), t.shape, st, pos * st[a]!);
    const next = fromStorage(first.device, s, shape, first.dtype);
    cur.dispose();
    cur = next;
    pos += t.shape[a]!;
  }
  return record(cur, op, ts, (g) =>
    ts.map((t, i) => {
      const begin = shape.map((_, d) => (d === a ? offsets[i]! : 0));
      return slice(g, begin, t.shape);
    }),
  );
}

export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const op = 'broadcastTo';
  const target = broadcastShapes(op, x.shape, shape);
  if (!shapesEqual(target, shape)) throw new TensorError(op, `cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  const out = copyStrided(x, op, shape, broadcastStrides(x.shape, shape), 0);
  return record(out, op, [x], (g) => [sumTo(g, x.shape)]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = axis < 0 ? axis + x.rank + 1 : axis;
  if (a < 0 || a > x.rank) throw new TensorError('unsqueeze', `axis ${axis} out of range for ${fmtShape(x.shape)}`);
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normAxis('squeeze', axis, x.rank);
  if (x.shape[a] !== 1) throw new TensorError('squeeze', `dim ${a} of ${fmtShape(x.shape)} is not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}
