/**
 * @attnlab/sparse: sparse and exact-kernel attention papers, one folder per paper, as a plugin.
 * Importing it in a notebook activates `attnlabPlugin`, which registers the variants
 * 'flash-sigmoid', 'neighborhood', 's2-attention', 'hyper-attention' and 'sea' through the kernel's plugin context
 * (undone when the plugin is disposed). Outside a kernel, call `registerVariants()`.
 */
import { registerAttention, type AttentionVariant } from '@attnlab/attention';
import { flashSigmoidVariant } from './flash-sigmoid/variant.js';
import { neighborhoodVariant } from './neighborhood/variant.js';
import { s2Variant } from './s2-attention/variant.js';
import { hyperAttentionVariant } from './hyper-attention/variant.js';
import { seaVariant } from './sea/variant.js';

export * as flashAttention from './flash-attention/index.js';
export * as flashSigmoid from './flash-sigmoid/index.js';
export * as neighborhood from './neighborhood/index.js';
export * as s2 from './s2-attention/index.js';
export * as powerAttention from './power-attention/index.js';
export * as maskAlgebra from './mask-algebra/index.js';
export * as orion from './orion/index.js';
export * as hyperAttention from './hyper-attention/index.js';
export * as sea from './sea/index.js';
export * as stats from './common/index.js';

/** The variants this package adds. */
export const variants: readonly AttentionVariant[] = [flashSigmoidVariant, neighborhoodVariant, s2Variant, hyperAttentionVariant, seaVariant];

interface Disposable {
  dispose(): void;
}

/** The plugin context methods used (a structural subset of the kernel's PluginContext). */
interface Context {
  registerAttention(name: string, variant: AttentionVariant): unknown;
}

export const attnlabPlugin = {
  id: '@attnlab/sparse',
  activate(ctx: Context): void {
    for (const v of variants) ctx.registerAttention(v.name, v);
  },
};

/** Register the variants directly in @attnlab/attention's registry (scripts, tests); returns one disposable. */
export function registerVariants(): Disposable {
  const ds = variants.map((v) => registerAttention(v.name, v));
  return { dispose: () => ds.forEach((d) => d.dispose()) };
}
