export { boolMatmul, boolMatmulNaive, reachability, reachabilityOnDevice, receptiveField, type ReceptiveField } from './boolean.js';
export { slidingPattern, dilatedPattern, stridedPattern, meanRowBudget } from './patterns.js';
