export { ModError } from './mods/parse.js';
export type { CaptureArray, CaptureValue } from './mods/ir.js';
export {
  MaskMod, ScoreMod, maskMod, scoreMod, causal, slidingWindow, sinks, and, or, perHead, wgslMods, toMaskMod, toScoreMod,
} from './mods/mods.js';
export type { MaskFn, ScoreFn, ModOptions, MaskLike, Intervals, WgslMods } from './mods/mods.js';
export { BlockMask, createBlockMask, createDocumentBlockMask } from './blockmask.js';
export type { BlockMaskOptions, BlockRow, DocumentBlockMaskOptions } from './blockmask.js';
export { documentMask, cuSeqlensFromDocumentIds } from './varlen.js';
export type { DocumentOptions } from './varlen.js';
export * as reference from './reference/index.js';
export { attention, checkQkv } from './attention.js';
export type { AttentionOptions, AttentionResult, ProbsRequest } from './attention.js';
export { linearAttention } from './linear.js';
export type { LinearAttentionOptions, LinearAttentionResult } from './linear.js';
export { KVCache } from './kvcache.js';
export type { KVCacheOptions, AttendOptions, StateKey } from './kvcache.js';
export { fullPolicy, positionPolicy, registerKVPolicy, getKVPolicy, listKVPolicies, unregisterKVPolicy } from './kv-policy.js';
export type { KVPolicy, KVPolicyFactory, KVSelectInfo, KVObserveInfo, EvictionPolicy, PolicyLike } from './kv-policy.js';
export { registerAttention, getAttention, hasAttention, listAttention, unregisterAttention, attentionContext, effectiveMask } from './registry.js';
export type { AttentionVariant, RegisteredVariant, AttentionContext, ContextInput, VariantInput, VariantResult } from './registry.js';
export { VARIANT_OPTIONS } from './variants.js';
export { attentionWeights, attentionWeightsFromLse, linearWeights } from './weights.js';
export type { WeightsOptions } from './weights.js';
export { planFlash, blockMaskFor } from './flash-plan.js';
export type { FlashPlan, FlashDims } from './flash-plan.js';
export * as wgsl from './wgsl/index.js';
export * as gpu from './gpu/index.js';
export { attnlabPlugin, attentionVariants, kvPolicies, type RegistryPoint } from './plugin.js';
