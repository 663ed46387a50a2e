export { hyperPlan, lshBuckets, type HeadShape, type HyperOptions, type HyperPlan } from './plan.js';
export { hyperAttention, hyperAttentionWithPlan } from './estimator.js';
export { exactAttention64, hyperAttention64, causalHyperAttention64, relativeError, outputError, hardness, type Hardness } from './naive.js';
export { causalHyperAttention, type CausalHyperOptions, type CausalLayout } from './causal.js';
export { hyperAttentionVariant } from './variant.js';
