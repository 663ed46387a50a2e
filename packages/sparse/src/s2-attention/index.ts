export { s2Mask, type S2Options } from './mask.js';
export { naiveShards, shardStats } from './naive.js';
export { s2Variant } from './variant.js';
