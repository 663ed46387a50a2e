export { flashSigmoid, flashSigmoidVariant, sigmoidBias, type FlashSigmoidOptions, type SigmoidBias } from './variant.js';
export { naiveSigmoidAttention } from './naive.js';
