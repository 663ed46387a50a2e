/**
 * L7 Titans + Miras: test-time memories as online learners. A memory (linear matrix or 2-layer
 * MLP) is written at every token by one gradient step of an attentional bias (dot-product =
 * Hebbian = linear attention; L2 = the delta rule), with a retention gate (forgetting) and
 * optional momentum (Titans' "surprise"), and read at the query.
 */
export { testTimeMemory, mlpInnerGrad, linearInnerGrad, mlpRead, memoryStateShape, initialMemoryState, type MemoryOptions, type MemoryResult, type Gate } from './memory.js';
export { chunkLinearMemory } from './chunk.js';
export { mirasVariant, MIRAS_OPTIONS } from './variant.js';
export { memoryNaive, decayedLinearAttentionNaive, innerGrad, innerLoss, memoryRead, memorySize, gateAt } from './naive.js';
export type { Bias, MemoryKind, Activation, GradAt, NaiveDims, NaiveOptions, NaiveResult, NaiveGate } from './naive.js';
export { titansMemory, type TitansOptions } from './titans.js';
