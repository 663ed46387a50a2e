export { sea, seaTopK, sparseAttention, positiveFeatures, orthogonalDirections, topIndices, type SeaOptions, type SeaShape } from './estimate.js';
export { seaVariant } from './variant.js';
export { exactTopK64, topKRecall, maskedAttention64 } from './naive.js';
