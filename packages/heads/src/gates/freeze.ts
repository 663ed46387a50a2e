/**
 * Freezing a model for training something on top of it (head gates, probes): every parameter
 * stops requiring gradients, and the returned handle puts back exactly the flags it found, so a
 * later `train(model, ...)` (whose AdamW refuses frozen parameters) works again.
 */
import type { Tensor } from '@attnlab/tensor';
import { HeadsError } from '../errors.js';

/** Anything with parameters (a Transformer). */
export interface HasParameters {
  parameters(): Tensor[];
}

export interface Frozen {
  /** Parameters that were frozen by this call (those that required grad before). */
  readonly params: readonly Tensor[];
  /** Restore the flags; idempotent. */
  unfreeze(): void;
}

export function freeze(model: HasParameters): Frozen {
  if (!model || typeof model.parameters !== 'function') throw new HeadsError('freeze', 'expected a model with parameters() (a Transformer)');
  const params = model.parameters().filter((p) => p.requiresGrad);
  for (const p of params) p.requireGrad(false);
  let done = false;
  return {
    params,
    unfreeze: () => {
      if (done) return;
      done = true;
      for (const p of params) if (!p.isDisposed) p.requireGrad(true);
    },
  };
}

/** Run fn with the model frozen; the flags come back even when fn throws. */
export async function withFrozen<T>(model: HasParameters, fn: () => T | Promise<T>): Promise<T> {
  const f = freeze(model);
  try {
    return await fn();
  } finally {
    f.unfreeze();
  }
}
