/**
 * K1 FlashAttention (Dao et al.): the exact tiled kernel itself is @attnlab/attention's
 * attention(); this folder holds what its claims are checked with: the float64 row reference
 * and the memory probe.
 */
export { naiveAttention, pickRows, maxAbsDiff, type NaiveDims, type NaiveOptions } from './naive.js';
export { measureMemory, type MemoryUse } from './memory.js';
