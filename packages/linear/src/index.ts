/**
 * @attnlab/linear: linear and recurrent attention papers, one folder per paper, as a plugin.
 * Importing it in a notebook activates `attnlabPlugin`, which registers the variants 'lightning'
 * (TransNormerLLM layer), 'based-linear' (BASED's Taylor branch), 'aaren' (fixed-query
 * softmax by prefix scan), 'miras' (test-time memory), 'gated-conv' (Zoology's H3-lite baseline),
 * 'softmax-shift' / 'linear-elu1-shift' (a key shift in front), 'rat' (chunked recurrence with
 * attention across chunks) and the KV policy 'recurrent-state' through the kernel's plugin
 * context (undone when the plugin is disposed). Outside a kernel, call `registerVariants()`.
 */
import { registerAttention, registerKVPolicy, type AttentionVariant, type KVPolicy } from '@attnlab/attention';
import { lightningVariant } from './lightning/variant.js';
import { basedLinearVariant } from './based/variant.js';
import { aarenVariant } from './aaren/variant.js';
import { mirasVariant } from './miras/variant.js';
import { gatedConvVariant } from './zoology/variant.js';
import { softmaxShiftVariant, linearShiftVariant } from './zoology/shift.js';
import { ratVariant } from './rat/variant.js';
import { stateOnlyPolicy } from './lightning/state.js';

export * as lightning from './lightning/index.js';
export * as aaren from './aaren/index.js';
export * as based from './based/index.js';
export * as miras from './miras/index.js';
export * as zoology from './zoology/index.js';
export * as rat from './rat/index.js';
export * as pavlovian from './pavlovian/index.js';
export * as numeric from './common/index.js';

/** The variants this package adds. */
export const variants: readonly AttentionVariant[] = [lightningVariant, basedLinearVariant, aarenVariant, mirasVariant, gatedConvVariant, softmaxShiftVariant, linearShiftVariant, ratVariant];

interface Disposable {
  dispose(): void;
}

/** The plugin context methods used (a structural subset of the kernel's PluginContext). */
interface Context {
  registerAttention(name: string, variant: AttentionVariant): unknown;
  registerKVPolicy?(name: string, factory: () => KVPolicy): unknown;
}

export const attnlabPlugin = {
  id: '@attnlab/linear',
  activate(ctx: Context): void {
    for (const v of variants) ctx.registerAttention(v.name, v);
    ctx.registerKVPolicy?.('recurrent-state', stateOnlyPolicy);
  },
};

/** Register the variants and the policy directly in @attnlab/attention's registries (scripts, tests). */
export function registerVariants(): Disposable {
  const ds = variants.map((v) => registerAttention(v.name, v));
  ds.push(registerKVPolicy('recurrent-state', stateOnlyPolicy));
  return { dispose: () => ds.forEach((d) => d.dispose()) };
}
