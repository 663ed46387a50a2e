export { flashForwardSource, flashBackwardDqSource, flashBackwardDkvSource, flashPreprocessSource, packFlashParams } from './flash.js';
export type { FlashKernelConfig, FlashParams, KernelSource } from './flash.js';
export { linearChunkStatesSource, linearScanSource, linearOutputSource, packLinearParams } from './linear.js';
