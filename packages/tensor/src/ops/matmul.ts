import { record } from '../autograd.js';
import { TensorError, fmtShape } from '../errors.js';
import { broadcastShapes, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { requireFloat, requireTensor, sameDevice } from './check.js';
import { fromStorage } from './create.js';
import { sumTo } from './elementwise.js';
import { broadcastTo, reshape, transpose } from './layout.js';

export interface MatmulOptions {
  /** Treat a's last two dims as transposed ([..., k, m]). */
  transA?: boolean;
  /** Treat b's last two dims as transposed ([..., n, k]). */
  transB?: boolean;
}

/**
 * Batched matrix product of a [..., m, k] and b [..., k, n] with broadcast batch dims.
 * Rank-1 operands are treated as a row (a) or column (b) vector and that dim is dropped.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const op = 'matmul';
  requireTensor(op, 'a', a);
  requireTensor(op, 'b', b);
  sameDevice(op, a, b);
  requireFloat(op, a);
  requireFloat(op, b);
  if (a.rank === 0 || b.rank === 0) throw new TensorError(op, `operands must have rank >= 1, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.rank === 1 || b.rank === 1) {
    const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]!]) : a;
    const b2 = b.rank === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
    const r = matmul(a2, b2, options);
    const shape = [...r.shape];
    if (b.rank === 1) shape.splice(shape.length - 1, 1);
    if (a.rank === 1) shape.splice(shape.length - (b.rank === 1 ? 1 : 2), 1);
    return reshape(r, shape);
  }
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const kb = transB ? bc : br;
  const n = transB ? br : bc;
  if (k !== kb) {
    throw new TensorError(op, `inner dims differ: ${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} @ ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''} (${k} vs ${kb})`);
  }
  const batchShape = broadcastShapes(op, a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = sizeOf(batchShape);
  const operand = (t: Tensor): [Tensor, number] => {
    const tb = sizeOf(t.shape.slice(0, -2));
    const mat = t.shape[t.rank - 2]! * t.shape[t.rank - 1]!;
    if (tb === batch && t.rank - 2 === batchShape.length) return [t, mat];
    if (tb === 1) return [t, 0];
    return [broadcastTo(t, [...batchShape, ...t.shape.slice(-2)]), mat];
  };
  const [aa, aStride] = operand(a);
  const [bb, bStride] = operand(b);
  const s = a.device.backend.matmul(aa.storage(op), bb.storage(op), {
    batch, m, k, n, transA, transB, aBatchStride: aStride, bBatchStride: bStride,
  });
  if (aa !== a) aa.dispose();
  if (bb !== b) bb.dispose();
  const out = fromStorage(a.device, s, [...batchShape, m, n], 'float32');
  return record(out, op, [a, b], (g) => matmulGrads(a, b, g, transA, transB, batch, m, k));
}

/**
 * Gradients of matmul(a, b, { transA, transB }) for the output gradient g (batch, m, k as in the
 * forward). Shared by matmulBias so that its weight and input gradients are matmul's, bit for bit.
 */
export function matmulGrads(a: Tensor, b: Tensor, g: Tensor, transA: boolean, transB: boolean, batch: number, m: number, k: number): [Tensor, Tensor] {
  const op = 'matmul';
  const n = transB ? b.shape[b.rank - 2]! : b.shape[b.rank - 1]!;
  const dA = matmul(g, b, { transB: !transB });
  if (b.rank === 2 && a.rank > 2 && !transA && a.size === batch * m * k) {
    // A weight shared by the batch: one product over all rows (batch folded into the inner
    // dim) instead of a product per batch entry and a sum over them.
    // a and g are contiguous, so their storages already are the [batch*m, k] and [batch*m, n] matrices.
    const rows = batch * m;
    const gb = transB
      ? fromStorage(a.device, a.device.backend.matmul(g.storage(op), a.storage(op), { batch: 1, m: n, k: rows, n: k, transA: true, transB: false, aBatchStride: 0, bBatchStride: 0 }), [n, k], 'float32')
      : fromStorage(a.device, a.device.backend.matmul(a.storage(op), g.storage(op), { batch: 1, m: k, k: rows, n, transA: true, transB: false, aBatchStride: 0, bBatchStride: 0 }), [k, n], 'float32');
    return [sumTo(transA ? transpose(dA) : dA, a.shape), gb];
  }
  const dB = matmul(a, g, { transA: !transA });
  const ga = transA ? transpose(dA) : dA;
  const gb = transB ? transpose(dB) : dB;
  return [sumTo(ga, a.shape), sumTo(gb, b.shape)];
}
