/** S1 StreamingLLM: the sinks + window KV policy (and DuoAttention's per-head split), streaming NLL, the recompute baseline, streaming generation, pre-training windows with a learnable sink token. */
export { sinksWindow, sinksWindowFactory, streamingMask, duoPolicy, type SinksWindowOptions } from './policy.js';
export { streamingNLL, recomputeNLL, streamingGenerate, type StreamOptions, type RecomputeOptions, type StreamGenerateOptions } from './stream.js';
export { sinkTokenTask, type SinkTokenTaskOptions } from './sink-token.js';
export { naiveStreamingAttention, heldPositions, ropeRow, type NaiveStreamOptions } from './naive.js';
