export { ModError } from './mods/parse.js';
export type { CaptureArray, CaptureValue } from './mods/ir.js';
export {
  MaskMod, ScoreMod, maskMod, scoreMod, causal, slidingWindow, sinks, and, or, perHead, wgslMods, toMaskMod, toScoreMod,
} from './mods/mods.js';
export type { MaskFn, ScoreFn, ModOptions, MaskLike, Intervals, WgslMods } from './mods/mods.js';
export { BlockMask, createBlockMask } from './blockmask.js';
export type { BlockMaskOptions, BlockRow } from './blockmask.js';
export * as reference from './reference/index.js';
export { attention, checkQkv } from './attention.js';
export type { AttentionOptions, AttentionResult, ProbsRequest } from './attention.js';
export { linearAttention } from './linear.js';
export type { LinearAttentionOptions, LinearAttentionResult } from './linear.js';
export { KVCache } from './kvcache.js';
export type { KVCacheOptions, EvictionPolicy } from './kvcache.js';
export { registerAttention, getAttention, listAttention } from './registry.js';
export type { AttentionVariant, VariantResult } from './registry.js';
export { planFlash, blockMaskFor } from './flash-plan.js';
export type { FlashPlan, FlashDims } from './flash-plan.js';
export * as wgsl from './wgsl/index.js';
export * as gpu from './gpu/index.js';
