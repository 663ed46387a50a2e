export { orionMask, randomBlockTable, type OrionOptions } from './mask.js';
export { naiveOrion } from './naive.js';
