export { sea, seaTopK, sparseAttention, positiveFeatures, orthogonalDirections, topIndices, type SeaOptions, type SeaShape } from './estimate.js';
export { exactTopK64, topKRecall, maskedAttention64 } from './naive.js';
