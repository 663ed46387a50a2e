/**
 * @attnlab/sparse: sparse and exact-kernel attention papers, one folder per paper, as a plugin.
 * Importing it in a notebook activates `attnlabPlugin`, which registers the variants
 * 'flash-sigmoid', 'neighborhood', 's2-attention', 'hyper-attention', 'sea', 'routing-attention', 'seer-attention', 'flexprefill', 'landmark' and 'landmark-grouped' through the kernel's plugin context
 * (undone when the plugin is disposed). Outside a kernel, call `registerVariants()`.
 */
import { registerAttention, registerKVPolicy, type AttentionVariant, type KVPolicyFactory } from '@attnlab/attention';
import { sinksWindowFactory } from './streaming-llm/policy.js';
import { actVariant } from './act/variant.js';
import { flashSigmoidVariant } from './flash-sigmoid/variant.js';
import { neighborhoodVariant } from './neighborhood/variant.js';
import { s2Variant } from './s2-attention/variant.js';
import { hyperAttentionVariant } from './hyper-attention/variant.js';
import { seaVariant } from './sea/variant.js';
import { routingVariant } from './routing-attention/variant.js';
import { seerVariant } from './seer-attention/variant.js';
import { flexPrefillVariant } from './flexprefill/variant.js';
import { landmarkVariant } from './landmark/variant.js';
import { landmarkGroupedVariant } from './landmark/grouped.js';

export * as flashAttention from './flash-attention/index.js';
export * as flashSigmoid from './flash-sigmoid/index.js';
export * as neighborhood from './neighborhood/index.js';
export * as s2 from './s2-attention/index.js';
export * as powerAttention from './power-attention/index.js';
export * as maskAlgebra from './mask-algebra/index.js';
export * as orion from './orion/index.js';
export * as hyperAttention from './hyper-attention/index.js';
export * as sea from './sea/index.js';
export * as passkey from './passkey/index.js';
export * as routing from './routing-attention/index.js';
export * as seer from './seer-attention/index.js';
export * as flexPrefill from './flexprefill/index.js';
export * as landmark from './landmark/index.js';
export * as blockSelect from './block-select/index.js';
export * as stats from './common/index.js';
export * as sinkMetrics from './sink-metrics/index.js';
export * as streamingLLM from './streaming-llm/index.js';
export * as act from './act/index.js';

/** The variants this package adds. */
export const variants: readonly AttentionVariant[] = [flashSigmoidVariant, neighborhoodVariant, s2Variant, hyperAttentionVariant, seaVariant, routingVariant, seerVariant, flexPrefillVariant, landmarkVariant, landmarkGroupedVariant];

/** The attention-sink papers' additions: ACT's 'act' variant (H6) and StreamingLLM's 'sinks-window' KV policy (S1). */
export const sinkVariants: readonly AttentionVariant[] = [actVariant];
export const kvPolicies: Readonly<Record<string, KVPolicyFactory>> = { 'sinks-window': sinksWindowFactory };

interface Disposable {
  dispose(): void;
}

/** The plugin context methods used (a structural subset of the kernel's PluginContext). */
interface Context {
  registerAttention(name: string, variant: AttentionVariant): unknown;
  registerKVPolicy?(name: string, factory: KVPolicyFactory): unknown;
}

export const attnlabPlugin = {
  id: '@attnlab/sparse',
  activate(ctx: Context): void {
    for (const v of variants) ctx.registerAttention(v.name, v);
    for (const v of sinkVariants) ctx.registerAttention(v.name, v);
    for (const [name, f] of Object.entries(kvPolicies)) ctx.registerKVPolicy?.(name, f);
  },
};

/** Register the variants (and KV policies) directly in @attnlab/attention's registries (scripts, tests); returns one disposable. */
export function registerVariants(): Disposable {
  const ds = [...variants, ...sinkVariants].map((v) => registerAttention(v.name, v));
  for (const [name, f] of Object.entries(kvPolicies)) ds.push(registerKVPolicy(name, f));
  return { dispose: () => ds.forEach((d) => d.dispose()) };
}
