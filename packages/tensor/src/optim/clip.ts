import { noGrad } from '../autograd.js';
import { add, addScalar, div, minimum, mul, sqrt } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { full } from '../ops/create.js';
import { keep, scope } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { cpuData } from '../cpu/storage.js';

/**
 * Scale all gradients so their global L2 norm is at most maxNorm. Stays on the device (no
 * readback); returns the norm before clipping as a scalar tensor.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  const cpu = clipCpu(params, maxNorm);
  if (cpu) return cpu;
  return noGrad(() =>
    scope(() => {
      const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return full([], 0);
      const device = grads[0]!.device;
      let total = full([], 0, { device });
      for (const g of grads) total = add(total, sum(mul(g, g)));
      const norm = sqrt(total);
      const factor = minimum(div(full([], maxNorm, { device }), addScalar(norm, 1e-6)), full([], 1, { device }));
      for (const p of params) {
        if (!p.grad) continue;
        const g = keep(mul(p.grad, factor));
        p.grad.dispose();
        p.grad = g;
      }
      return norm;
    }),
  );
}

/**
 * The CPU device's clip in one pass over each gradient, scaling in place (the gradients are the
 * parameters' own). It rounds exactly as the op-by-op path above does (float32 squares, a sum
 * per axis rounded to float32, float32 running total, norm and factor), so results are
 * bit-identical; a factor of 1 leaves the gradients untouched. Null when not all on the CPU.
 */
function clipCpu(params: readonly Tensor[], maxNorm: number): Tensor | null {
  const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
  if (grads.length === 0 || !grads.every((g) => g.device.kind === 'cpu' && g.dtype === 'float32' && !g.isDisposed)) return null;
  const f = Math.fround;
  let total = 0;
  for (const g of grads) {
    const G = cpuData(g.storage('clipGradNorm')) as Float32Array;
    // sum() reduces the last axis first, then each earlier one, rounding to float32 after each.
    const last = g.rank > 0 ? g.shape[g.rank - 1]! : 1;
    let sums = new Float32Array(last > 0 ? G.length / last : 0);
    for (let r = 0, i = 0; r < sums.length; r++) {
      let acc = 0;
      for (let j = 0; j < last; j++, i++) acc += f(G[i]! * G[i]!);
      sums[r] = acc;
    }
    for (let a = g.rank - 2; a >= 0; a--) {
      const len = g.shape[a]!;
      const next = new Float32Array(len > 0 ? sums.length / len : 0);
      for (let r = 0, i = 0; r < next.length; r++) {
        let acc = 0;
        for (let j = 0; j < len; j++, i++) acc += sums[i]!;
        next[r] = acc;
      }
      sums = next;
    }
    total = f(total + (sums.length ? sums[0]! : 0));
  }
  const norm = f(Math.sqrt(total));
  const q = f(f(maxNorm) / f(norm + 1e-6));
  // minimum(q, 1) with NaN propagating.
  const factor = q !== q ? NaN : Math.min(q, 1);
  if (factor !== 1) {
    for (const g of grads) {
      const G = cpuData(g.storage('clipGradNorm')) as Float32Array;
      for (let i = 0; i < G.length; i++) G[i] = G[i]! * factor;
    }
  }
  return full([], norm, { device: grads[0]!.device });
}
