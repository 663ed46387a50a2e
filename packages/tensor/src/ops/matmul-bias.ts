import { record } from '../autograd.js';
import { f32Overwrite } from '../cpu/pool.js';
import { CpuStorage, cpuData } from '../cpu/storage.js';
import { gemmWasm, gemmWorthIt, leadingSumsWasm } from '../cpu/wasm/gemm.js';
import { TensorError, fmtShape } from '../errors.js';
import { sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { requireFloat, requireTensor, sameDevice } from './check.js';
import { fromStorage } from './create.js';
import { add, sumTo } from './elementwise.js';
import { matmul, matmulGrads } from './matmul.js';

/**
 * x @ weight + bias for x [..., k], weight [k, n] and bias [n]: a linear layer. The value and all
 * three gradients are bit-identical to `add(matmul(x, weight), bias)`; on the CPU the bias is added
 * inside the product's kernel after the full accumulation (no second pass over the output, no extra
 * array). Other devices run matmul then add.
 */
export function matmulBias(x: Tensor, weight: Tensor, bias: Tensor): Tensor {
  const op = 'matmulBias';
  requireTensor(op, 'x', x);
  requireTensor(op, 'weight', weight);
  requireTensor(op, 'bias', bias);
  sameDevice(op, x, weight);
  sameDevice(op, x, bias);
  requireFloat(op, x);
  requireFloat(op, weight);
  requireFloat(op, bias);
  if (weight.rank !== 2) throw new TensorError(op, `weight must be [k, n], got ${fmtShape(weight.shape)}`);
  const [k, n] = weight.shape as [number, number];
  if (x.rank < 1 || x.shape[x.rank - 1] !== k) {
    throw new TensorError(op, `x must be [..., ${k}] to match weight ${fmtShape(weight.shape)}, got ${fmtShape(x.shape)}`);
  }
  if (bias.rank !== 1 || bias.shape[0] !== n) throw new TensorError(op, `bias must be [${n}] to match weight ${fmtShape(weight.shape)}, got ${fmtShape(bias.shape)}`);
  const rows = sizeOf(x.shape.slice(0, -1));
  if (x.device.kind !== 'cpu' || x.rank < 2 || !gemmWorthIt(rows, k, n)) return add(matmul(x, weight), bias);
  // The product matmul runs for x (leading dims folded into rows), with the bias added in the kernel.
  const out = f32Overwrite(rows * n);
  gemmWasm(cpuData(x.storage(op)) as Float32Array, cpuData(weight.storage(op)) as Float32Array, out, {
    batch: 1, m: rows, k, n, transA: false, transB: false, aBatchStride: 0, bBatchStride: 0,
  }, cpuData(bias.storage(op)) as Float32Array);
  const y = fromStorage(x.device, new CpuStorage(out), [...x.shape.slice(0, -1), n], 'float32');
  const batch = sizeOf(x.shape.slice(0, -2));
  const m = x.shape[x.rank - 2]!;
  return record(y, op, [x, weight, bias], (g) => {
    const [gx, gw] = matmulGrads(x, weight, g, false, false, batch, m, k);
    // add's gradient for the bias: the leading axes reduced in the same order (so the same roundings).
    const lead = x.shape.slice(0, -1);
    const gb = n % 4 === 0
      ? fromStorage(x.device, new CpuStorage(leadingSumsWasm(cpuData(g.storage(op)) as Float32Array, lead, n)), [n], 'float32')
      : sumTo(g, bias.shape);
    return [gx, gw, gb];
  });
}
