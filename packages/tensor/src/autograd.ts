import type { Tensor } from './tensor.js';
import { TensorError, fmtShape } from './errors.js';
import { untrackTensor } from './scope.js';

/** What an op records so reverse mode can run: its inputs and how to map the output grad to theirs. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for each input (null where an input needs none). Runs with grad recording off. */
  readonly backward: (grad: Tensor) => readonly (Tensor | null)[];
}

let gradDepth = 0;

export function isGradEnabled(): boolean {
  return gradDepth === 0;
}

/** Run `fn` without recording autograd (evaluation, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  gradDepth++;
  let async = false;
  try {
    const r = fn();
    if (r instanceof Promise) {
      async = true;
      return r.finally(() => {
        gradDepth--;
      }) as T;
    }
    return r;
  } finally {
    if (!async) gradDepth--;
  }
}

/** Attach an autograd record to `out` when recording is on and an input requires grad. */
export function record(out: Tensor, op: string, inputs: readonly Tensor[], backward: GradNode['backward']): Tensor {
  if (gradDepth === 0 && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradNode = { op, inputs, backward };
  }
  return out;
}

// Injected by ops/index to avoid an import cycle (add, onesLike).
export const gradOps: {
  add: (a: Tensor, b: Tensor) => Tensor;
  onesLike: (t: Tensor) => Tensor;
  clone: (t: Tensor) => Tensor;
} = {
  clone: () => {
    throw new Error('autograd ops not initialised');
  },
  add: () => {
    throw new Error('autograd ops not initialised');
  },
  onesLike: () => {
    throw new Error('autograd ops not initialised');
  },
};

export function backward(root: Tensor, seed?: Tensor): void {
  if (!root.requiresGrad) throw new TensorError('backward', `tensor ${fmtShape(root.shape)} does not require grad`);
  if (!seed && root.size !== 1) {
    throw new TensorError('backward', `a gradient must be given for a non-scalar tensor ${fmtShape(root.shape)}`);
  }
  // Topological order over the recorded graph.
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const visit = (t: Tensor): void => {
    const stackT: [Tensor, number][] = [[t, 0]];
    while (stackT.length) {
      const top = stackT[stackT.length - 1]!;
      const [node, i] = top;
      if (i === 0) {
        if (seen.has(node)) {
          stackT.pop();
          continue;
        }
        seen.add(node);
      }
      const inputs = node.gradNode?.inputs ?? [];
      if (i < inputs.length) {
        top[1] = i + 1;
        const inp = inputs[i]!;
        if (inp.requiresGrad && !seen.has(inp)) stackT.push([inp, 0]);
      } else {
        stackT.pop();
        order.push(node);
      }
    }
  };
  visit(root);

  const grads = new Map<Tensor, Tensor>();
  gradDepth++;
  try {
    // The user's seed stays theirs: work on a copy.
    grads.set(root, seed ? gradOps.clone(seed) : gradOps.onesLike(root));
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.gradNode;
      if (!node) {
        // Leaf: accumulate into .grad, which outlives any scope.
        if (t.grad && !t.grad.isDisposed) {
          const sum = gradOps.add(t.grad, g);
          t.grad.dispose();
          g.dispose();
          t.grad = sum;
        } else {
          t.grad = g;
        }
        untrackTensor(t.grad);
        continue;
      }
      const inGrads = node.backward(g);
      // A backward may hand the same tensor to several inputs (or pass g through): copy repeats
      // so each gradient is owned once.
      const used = new Set<Tensor>();
      const owned = node.inputs.map((inp, j) => {
        const ig = inGrads[j];
        if (!ig || !inp.requiresGrad) return null;
        if (used.has(ig)) return gradOps.clone(ig);
        used.add(ig);
        return ig;
      });
      node.inputs.forEach((inp, j) => {
        const ig = owned[j];
        if (!ig) return;
        const prev = grads.get(inp);
        if (prev) {
          grads.set(inp, gradOps.add(prev, ig));
          prev.dispose();
          ig.dispose();
        } else {
          grads.set(inp, ig);
        }
      });
      for (const ig of inGrads) if (ig && !used.has(ig) && ig !== g) ig.dispose();
      if (!used.has(g)) g.dispose();
    }
  } finally {
    gradDepth--;
    for (const g of grads.values()) g.dispose();
  }
}
