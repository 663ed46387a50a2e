import type { BinaryOp, UnaryOp } from '../backend.js';
import { record } from '../autograd.js';
import { TensorError } from '../errors.js';
import { broadcastShapes, broadcastStrides, shapesEqual, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { requireFloat, requireOperand, requireTensor, sameDevice, sameDtype } from './check.js';
import { fromStorage, full } from './create.js';
import { reshape } from './layout.js';
import { sum } from './reduce.js';
import { geluCpu } from '../cpu/fused.js';

type Operand = Tensor | number;

function unaryRaw(op: UnaryOp, x: Tensor, p?: number, p2?: number): Tensor {
  return fromStorage(x.device, x.device.backend.unary(op, x.storage(op), p, p2), x.shape, x.dtype);
}

const INT_OK: ReadonlySet<UnaryOp> = new Set(['neg', 'abs', 'sign', 'mulScalar', 'addScalar', 'square', 'clamp']);

function unary(op: UnaryOp, x: Tensor, backward: ((g: Tensor, out: Tensor) => Tensor) | null, p?: number, p2?: number): Tensor {
  requireTensor(op, 'x', x);
  if (!INT_OK.has(op)) requireFloat(op, x);
  const out = unaryRaw(op, x, p, p2);
  if (!backward) return out;
  return record(out, op, [x], (g) => [backward(g, out)]);
}

export const neg = (x: Tensor): Tensor => unary('neg', x, (g) => neg(g));
export const exp = (x: Tensor): Tensor => unary('exp', x, (g, out) => mul(g, out));
export const log = (x: Tensor): Tensor => unary('log', x, (g) => div(g, x));
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x, (g, out) => div(mulScalar(g, 0.5), out));
export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x, (g, out) => mul(g, mulScalar(unaryRaw('powScalar', out, 3), -0.5)));
export const tanh = (x: Tensor): Tensor => unary('tanh', x, (g, out) => mul(g, addScalar(neg(unaryRaw('square', out)), 1)));
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x, (g, out) => mul(g, mul(out, addScalar(neg(out), 1))));
export const relu = (x: Tensor): Tensor => unary('relu', x, (g) => mul(g, unaryRaw('step', x)));
export const elu = (x: Tensor): Tensor => unary('elu', x, (g) => mul(g, unaryRaw('eluGrad', x)));
/** GELU, tanh approximation (GPT-2's "gelu_new"). */
export const gelu = (x: Tensor): Tensor =>
  // The CPU device computes the backward in one pass (g · gelu'(x)).
  x?.device?.kind === 'cpu' && x.dtype === 'float32' && !x.isDisposed ? geluCpu(x) : unary('gelu', x, (g) => mul(g, unaryRaw('geluGrad', x)));
export const abs = (x: Tensor): Tensor => unary('abs', x, (g) => mul(g, unaryRaw('sign', x)));
export const sign = (x: Tensor): Tensor => unary('sign', x, null);
export const square = (x: Tensor): Tensor => unary('square', x, (g) => mul(g, mulScalar(x, 2)));
export const reciprocal = (x: Tensor): Tensor => unary('reciprocal', x, (g, out) => neg(mul(g, unaryRaw('square', out))));
export const sin = (x: Tensor): Tensor => unary('sin', x, (g) => mul(g, unaryRaw('cos', x)));
export const cos = (x: Tensor): Tensor => unary('cos', x, (g) => neg(mul(g, unaryRaw('sin', x))));
export const mulScalar = (x: Tensor, c: number): Tensor => unary('mulScalar', x, (g) => mulScalar(g, c), c);
export const addScalar = (x: Tensor, c: number): Tensor => unary('addScalar', x, (g) => mulScalar(g, 1), c);
/** x ** p for a number p. */
export const powScalar = (x: Tensor, p: number): Tensor =>
  unary('powScalar', x, (g) => mul(g, mulScalar(unaryRaw('powScalar', x, p - 1), p)), p);
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  return unary('clamp', x, (g) => mul(g, mul(cmp('ge', x, lo), cmp('le', x, hi))), lo, hi);
}

/** Sum a broadcast gradient back down to `shape`. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.shape.length; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = sum(g, axes, true);
  const r = reshape(s, shape);
  if (r !== s) s.dispose();
  return r;
}

function asTensor(v: Operand, like: Tensor): Tensor {
  return typeof v === 'number' ? full([], v, { device: like.device, dtype: like.dtype }) : v;
}

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  sameDevice(op, a, b);
  sameDtype(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const s = a.device.backend.binary(op, a.storage(op), broadcastStrides(a.shape, shape), b.storage(op), broadcastStrides(b.shape, shape), shape);
  return fromStorage(a.device, s, shape, s.dtype);
}

function binary(op: BinaryOp, a0: Operand, b0: Operand, backward: (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => [Tensor | null, Tensor | null]): Tensor {
  requireOperand(op, 'first operand', a0);
  requireOperand(op, 'second operand', b0);
  if (typeof a0 === 'number' && typeof b0 === 'number') throw new TensorError(op, 'needs at least one tensor operand');
  const like = typeof a0 === 'number' ? (b0 as Tensor) : a0;
  const a = asTensor(a0, like);
  const b = asTensor(b0, like);
  const out = binaryRaw(op, a, b);
  record(out, op, [a, b], (g) => {
    const [ga, gb] = backward(g, a, b, out);
    return [ga && sumTo(ga, a.shape), gb && sumTo(gb, b.shape)];
  });
  return out;
}

export const add = (a: Operand, b: Operand): Tensor => binary('add', a, b, (g) => [g, g]);
export const sub = (a: Operand, b: Operand): Tensor => binary('sub', a, b, (g) => [g, neg(g)]);
export const mul = (a: Operand, b: Operand): Tensor => binary('mul', a, b, (g, x, y) => [mul(g, y), mul(g, x)]);
export const div = (a: Operand, b: Operand): Tensor =>
  binary('div', a, b, (g, x, y) => [div(g, y), neg(div(mul(g, x), unaryRaw('square', y)))]);
export const maximum = (a: Operand, b: Operand): Tensor =>
  binary('max', a, b, (g, x, y) => [mul(g, cmp('ge', x, y)), mul(g, cmp('lt', x, y))]);
export const minimum = (a: Operand, b: Operand): Tensor =>
  binary('min', a, b, (g, x, y) => [mul(g, cmp('le', x, y)), mul(g, cmp('gt', x, y))]);
/** Elementwise a ** b; gradients flow to both (b's needs a > 0). */
export const pow = (a: Operand, b: Operand): Tensor =>
  binary('pow', a, b, (g, x, y, out) => [
    mul(g, mul(y, binaryRaw('pow', x, addScalar(y, -1)))),
    mul(g, mul(out, unaryRaw('log', x))),
  ]);

function cmp(op: BinaryOp, a: Operand, b: Operand): Tensor {
  requireOperand(op, 'first operand', a);
  requireOperand(op, 'second operand', b);
  if (typeof a === 'number' && typeof b === 'number') throw new TensorError(op, 'needs at least one tensor operand');
  const like = typeof a === 'number' ? (b as Tensor) : a;
  return binaryRaw(op, asTensor(a, like), asTensor(b, like));
}

/** Comparisons give float32 0/1 and carry no gradient. */
export const equal = (a: Operand, b: Operand): Tensor => cmp('eq', a, b);
export const greater = (a: Operand, b: Operand): Tensor => cmp('gt', a, b);
export const greaterEqual = (a: Operand, b: Operand): Tensor => cmp('ge', a, b);
export const less = (a: Operand, b: Operand): Tensor => cmp('lt', a, b);
export const lessEqual = (a: Operand, b: Operand): Tensor => cmp('le', a, b);

/** cond != 0 ? a : b, broadcasting all three. */
export function where(cond: Tensor, a0: Operand, b0: Operand): Tensor {
  const op = 'where';
  requireTensor(op, 'cond', cond);
  requireOperand(op, 'a', a0);
  requireOperand(op, 'b', b0);
  const like = typeof a0 === 'number' ? (typeof b0 === 'number' ? cond : b0) : a0;
  const dtypeLike = like === cond ? { device: cond.device, dtype: 'float32' as const } : { device: like.device, dtype: like.dtype };
  const a = typeof a0 === 'number' ? full([], a0, dtypeLike) : a0;
  const b = typeof b0 === 'number' ? full([], b0, dtypeLike) : b0;
  sameDevice(op, cond, a, b);
  sameDtype(op, a, b);
  const shape = broadcastShapes(op, broadcastShapes(op, cond.shape, a.shape), b.shape);
  const s = cond.device.backend.where(
    cond.storage(op), broadcastStrides(cond.shape, shape),
    a.storage(op), broadcastStrides(a.shape, shape),
    b.storage(op), broadcastStrides(b.shape, shape), shape,
  );
  const out = fromStorage(cond.device, s, shape, a.dtype);
  return record(out, op, [a, b], (g) => {
    const zero = full([], 0, { device: g.device });
    const ga = sumTo(where(cond, g, zero), a.shape);
    const gb = sumTo(where(cond, zero, g), b.shape);
    return [ga, gb];
  });
}
