export { ModError } from './mods/parse.js';
export type { CaptureArray, CaptureValue } from './mods/ir.js';
export {
  MaskMod, ScoreMod, maskMod, scoreMod, causal, slidingWindow, sinks, and, or, perHead, wgslMods, toMaskMod, toScoreMod,
} from './mods/mods.js';
export type { MaskFn, ScoreFn, ModOptions, MaskLike, Intervals, WgslMods } from './mods/mods.js';
export { BlockMask, createBlockMask } from './blockmask.js';
export type { BlockMaskOptions, BlockRow } from './blockmask.js';
export * as reference from './reference/index.js';
