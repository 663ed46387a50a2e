/**
 * The attention-variant registry: models pick a variant by name per layer or per head, and
 * plugins add their own. Built in: 'softmax', 'sigmoid', 'linear'.
 */
import { TensorError, type Tensor } from '@attnlab/tensor';
import { attention, type AttentionOptions } from './attention.js';
import { linearAttention, type LinearAttentionOptions } from './linear.js';

export interface VariantResult {
  out: Tensor;
  /** Log-normaliser per row where the variant has one. */
  lse?: Tensor;
}

/** A variant maps q [B,Hq,Nq,D], k, v [B,Hkv,Nk,D] and variant-specific options to an output. */
export interface AttentionVariant<O = Record<string, unknown>> {
  description?: string;
  forward(q: Tensor, k: Tensor, v: Tensor, opts?: O): Promise<VariantResult>;
}

const variants = new Map<string, AttentionVariant<never>>();

export function registerAttention<O>(name: string, impl: AttentionVariant<O> | AttentionVariant<O>['forward'], opts: { replace?: boolean } = {}): void {
  if (typeof name !== 'string' || !name) throw new TensorError('registerAttention', 'name must be a non-empty string');
  if (variants.has(name) && !opts.replace) throw new TensorError('registerAttention', `variant '${name}' is already registered (pass { replace: true } to override)`);
  const v: AttentionVariant<O> = typeof impl === 'function' ? { forward: impl } : impl;
  if (typeof v.forward !== 'function') throw new TensorError('registerAttention', `variant '${name}' needs a forward(q, k, v, opts) function`);
  variants.set(name, v as AttentionVariant<never>);
}

export function getAttention<O = Record<string, unknown>>(name: string): AttentionVariant<O> {
  const v = variants.get(name);
  if (!v) throw new TensorError('getAttention', `unknown attention variant '${name}' (registered: ${[...variants.keys()].join(', ')})`);
  return v as unknown as AttentionVariant<O>;
}

export function listAttention(): string[] {
  return [...variants.keys()];
}

registerAttention<AttentionOptions>('softmax', {
  description: 'exact softmax attention (flash by default)',
  forward: (q, k, v, opts = {}) => attention(q, k, v, { ...opts, normalize: 'softmax' }),
});
registerAttention<AttentionOptions>('sigmoid', {
  description: 'sigmoid attention with bias (FlashSigmoid)',
  forward: (q, k, v, opts = {}) => attention(q, k, v, { ...opts, normalize: 'sigmoid' }),
});
registerAttention<LinearAttentionOptions>('linear', {
  description: 'causal linear attention (feature map, decay, chunk/recurrent/parallel)',
  forward: async (q, k, v, opts = {}) => ({ out: (await linearAttention(q, k, v, opts)).out }),
});
