/** H2 DuoAttention: gates α per head on a frozen model, retrieval heads full cache, streaming heads sinks + window. */
export { duoHooks, streamingMask, type StreamingSpec, type LayerGates } from './mix.js';
export { trainDuoGates, type DuoTrainOptions, type DuoTrainResult } from './train-gates.js';
export { rankByAlpha, retrievalSet, headPolicies, bimodality } from './policies.js';
