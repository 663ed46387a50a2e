export { attentionRef, attentionRefBackward, attentionProbsRef } from './softmax.js';
export type { AttnDims, AttnRefOptions, AttnRefResult, AttnRefGrads } from './softmax.js';
export { linearAttentionRef, linearAttentionRefBackward, linearAttentionParallelRef, deltaRuleRef, featurize, featurizeBackward, featureDim } from './linear.js';
export type { FeatureMap, LinearDims, LinearRefOptions, LinearRefResult, LinearRefGrads } from './linear.js';
