/** L1 Lightning Attention-2 / TNL / TransNormerLLM: the public API of this paper folder. */
export { lightningAttention, tnlDecay, decayPerHead, type LightningOptions, type LightningMode } from './attention.js';
export { lightningVariant, LIGHTNING_OPTIONS } from './variant.js';
export { getState, setState, stateBytes, stateOnlyPolicy, disposeStates } from './state.js';
export { recurrentNaive, parallelNaive, chunkNaive, srmsNormNaive, gradNaive, type NaiveDims, type NaiveOptions } from './naive.js';
