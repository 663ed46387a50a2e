export { sea, seaTopK, sparseAttention, positiveFeatures, orthogonalDirections, topIndices, type SeaOptions, type SeaShape } from './estimate.js';
export { seaVariant } from './variant.js';
export { exactTopK64, topKRecall, maskedAttention64, estimatorLogProbs64 } from './naive.js';
export {
  initSeaEstimator, checkSeaEstimator, estimatorLogScores, trainedTopK, estimatorLogProbs, distillSeaEstimator,
  type SeaEstimator, type SeaEstimatorShape, type SeaSample, type SeaDistillOptions,
} from './trained.js';
