export { powerMask, powerOffsets, type PowerOptions } from './mask.js';
export { naivePower } from './naive.js';
