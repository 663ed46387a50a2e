/** L2 BASED (Taylor linear attention + sliding-window softmax): the public API of this paper folder. */
export { basedLinear, slidingWindowAttention, basedStateBytes, taylorFeatureDim, type BasedLinearOptions } from './attention.js';
export { basedLinearVariant, BASED_LINEAR_OPTIONS } from './variant.js';
export { useBased, basedCachePolicy, type BasedHybridOptions } from './model.js';
export { taylorLinearNaive, windowSoftmaxNaive, type BasedDims } from './naive.js';
