import { noGrad } from '../autograd.js';
import { add, addScalar, div, minimum, mul, sqrt } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { full } from '../ops/create.js';
import { keep, scope } from '../scope.js';
import type { Tensor } from '../tensor.js';

/**
 * Scale all gradients so their global L2 norm is at most maxNorm. Stays on the device (no
 * readback); returns the norm before clipping as a scalar tensor.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
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
