/** L6 RAT (chunked recurrence with attention across chunks): the public API of this paper folder. */
export { ratAttention, chunkRecurrence, ratMask, ratDecay, ratFlops, ratStateBytes, type RatOptions, type RatResult } from './attention.js';
export { ratVariant, RAT_OPTIONS } from './variant.js';
export { ratNaive, causalSoftmaxNaive, gatedRnnNaive, chunkRecurrenceNaive, type RatDims, type RatNaiveOptions } from './naive.js';
