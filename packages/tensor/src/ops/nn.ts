import { noGrad, record } from '../autograd.js';
import { TensorError, fmtShape } from '../errors.js';
import { sizeOf } from '../shape.js';
import { layerNormCpu, rotaryCpu } from '../cpu/fused.js';
import type { Tensor } from '../tensor.js';
import { requireFloat, requireInt, sameDevice } from './check.js';
import { fromStorage, tensor } from './create.js';
import { abs, add, div, maximum, mul, mulScalar, neg, reciprocal, rsqrt, square, sub } from './elementwise.js';
import { concat, slice } from './layout.js';
import { logsumexp, max, mean, sum } from './reduce.js';

/** Rows of `table` [V, D] picked by int32 `indices` [...] -> [..., D]. */
export function embedding(table: Tensor, indices: Tensor): Tensor {
  const op = 'embedding';
  sameDevice(op, table, indices);
  requireInt(op, indices);
  if (table.rank !== 2) throw new TensorError(op, `table must be [rows, dim], got ${fmtShape(table.shape)}`);
  const [rows, cols] = table.shape as [number, number];
  const s = table.device.backend.gatherRows(table.storage(op), indices.storage(op), rows, cols);
  const out = fromStorage(table.device, s, [...indices.shape, cols], table.dtype);
  return record(out, op, [table], (g) => [
    fromStorage(table.device, table.device.backend.scatterAddRows(g.storage(op), indices.storage(op), rows, cols), table.shape, 'float32'),
  ]);
}

/** x[..., idx[...]]: one value per row of the last axis. */
export function pick(x: Tensor, indices: Tensor): Tensor {
  const op = 'pick';
  sameDevice(op, x, indices);
  requireInt(op, indices);
  const lead = x.shape.slice(0, -1);
  if (indices.rank !== lead.length || indices.shape.some((d, i) => d !== lead[i])) {
    throw new TensorError(op, `indices ${fmtShape(indices.shape)} must match the leading dims of ${fmtShape(x.shape)}`);
  }
  const n = sizeOf(lead);
  const c = x.shape[x.rank - 1]!;
  const out = fromStorage(x.device, x.device.backend.pickLast(x.storage(op), indices.storage(op), n, c), lead, 'float32');
  return record(out, op, [x], (g) => [
    fromStorage(x.device, x.device.backend.unpickLast(g.storage(op), indices.storage(op), n, c), x.shape, 'float32'),
  ]);
}

export interface CrossEntropyOptions {
  reduction?: 'mean' | 'sum' | 'none';
}

/** Cross-entropy of logits [..., C] against int32 class targets [...]. */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  requireFloat('crossEntropy', logits);
  if (logits.rank < 1) throw new TensorError('crossEntropy', `logits must have a class axis, got ${fmtShape(logits.shape)}`);
  const nll = sub(logsumexp(logits, -1), pick(logits, targets));
  const r = options.reduction ?? 'mean';
  return r === 'none' ? nll : r === 'sum' ? sum(nll) : mean(nll);
}

function checkParam(op: string, x: Tensor, p: Tensor | undefined, what: string): void {
  if (p && (p.rank !== 1 || p.shape[0] !== x.shape[x.rank - 1])) {
    throw new TensorError(op, `${what} ${fmtShape(p.shape)} must be [${x.shape[x.rank - 1]}] for input ${fmtShape(x.shape)}`);
  }
}

/** LayerNorm over the last axis with optional affine weight and bias. */
export function layerNorm(x: Tensor, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  requireFloat('layerNorm', x);
  checkParam('layerNorm', x, weight, 'weight');
  checkParam('layerNorm', x, bias, 'bias');
  // The CPU device has a fused kernel (one pass per row, fused backward).
  if (x.device.kind === 'cpu' && x.rank >= 1 && [weight, bias].every((p) => !p || p.device === x.device)) return layerNormCpu(x, weight, bias, eps);
  const d = sub(x, mean(x, -1, true));
  const [c, epsC] = rowScale(d, eps);
  const ds = div(d, c);
  let y = mul(ds, rsqrt(add(mean(mul(ds, ds), -1, true), epsC)));
  if (weight) y = mul(y, weight);
  if (bias) y = add(y, bias);
  return y;
}

/** RMSNorm over the last axis. */
export function rmsNorm(x: Tensor, weight?: Tensor, eps = 1e-6): Tensor {
  requireFloat('rmsNorm', x);
  checkParam('rmsNorm', x, weight, 'weight');
  const [c, epsC] = rowScale(x, eps);
  const xs = div(x, c);
  const y = mul(xs, rsqrt(add(mean(mul(xs, xs), -1, true), epsC)));
  return weight ? mul(y, weight) : y;
}

/**
 * Squares overflow float32 from |x| = 1.8e19, which made the norms 0 instead of ±1: rows whose
 * largest |x| exceeds 1 are divided by it first, and eps by its square. The result
 * x / sqrt(mean(x²) + eps) does not depend on the scale, so it is a constant for autograd.
 */
function rowScale(x: Tensor, eps: number): [Tensor, Tensor] {
  return noGrad(() => {
    const a = abs(x);
    const m = max(a, -1, true);
    const c = maximum(m, 1);
    const c2 = square(c);
    const inv = reciprocal(c2);
    const epsC = mulScalar(inv, eps);
    for (const t of [a, m, c2, inv]) t.dispose();
    return [c, epsC];
  });
}

export interface RotaryOptions {
  /** Frequency base (10000 in most models). */
  base?: number;
  /** Position of the first row (for decoding after a cache). */
  offset?: number;
  /** Rotate only the first `rotaryDim` features (GPT-NeoX partial rotary). */
  rotaryDim?: number;
}

/**
 * Rotary position embedding on x [..., N, D] with the rotate-half pairing (feature i with
 * i + d/2), as in GPT-NeoX and Llama.
 */
export function rotary(x: Tensor, options: RotaryOptions = {}): Tensor {
  const op = 'rotary';
  requireFloat(op, x);
  if (x.rank < 2) throw new TensorError(op, `input must be [..., N, D], got ${fmtShape(x.shape)}`);
  const n = x.shape[x.rank - 2]!;
  const dim = x.shape[x.rank - 1]!;
  const rd = options.rotaryDim ?? dim;
  if (rd % 2 !== 0 || rd > dim) throw new TensorError(op, `rotary dim ${rd} must be even and <= ${dim}`);
  const base = options.base ?? 10000;
  const offset = options.offset ?? 0;
  const half = rd / 2;
  const cos = new Float32Array(n * rd);
  const sin = new Float32Array(n * rd);
  for (let p = 0; p < n; p++) {
    for (let i = 0; i < half; i++) {
      const ang = (p + offset) * Math.pow(base, (-2 * i) / rd);
      cos[p * rd + i] = cos[p * rd + i + half] = Math.cos(ang);
      sin[p * rd + i] = sin[p * rd + i + half] = Math.sin(ang);
    }
  }
  // The CPU device rotates in one pass (and its backward in one more).
  if (x.device.kind === 'cpu') return rotaryCpu(x, cos, sin, rd);
  const c = tensor(cos, [n, rd], { device: x.device });
  const s = tensor(sin, [n, rd], { device: x.device });
  const lead = x.shape.slice(0, -1).map(() => 0);
  const xr = rd === dim ? x : slice(x, [...lead, 0], [...x.shape.slice(0, -1), rd]);
  const x1 = slice(xr, [...lead, 0], [...xr.shape.slice(0, -1), half]);
  const x2 = slice(xr, [...lead, half], [...xr.shape.slice(0, -1), half]);
  const rotated = concat([neg(x2), x1], -1);
  const y = add(mul(xr, c), mul(rotated, s));
  if (rd === dim) return y;
  return concat([y, slice(x, [...lead, rd], [...x.shape.slice(0, -1), dim - rd])], -1);
}
