/** H4 MoH: Mixture-of-Head attention (router over heads, top-k, load balance), router analysis and F11 checkpoints. */
export { MoHRouter, attachMoH, activeHeads, type MoHOptions, type RouteRecord } from './router.js';
export { routerStats, tokenTypes, ablationImportance, spearman, TOKEN_TYPES, type RouterStats } from './analysis.js';
export { vitFromCheckpoint, type ViTCheckpointConfig } from './checkpoint.js';
export { attachMoHToLM, type LMMoH } from './lm.js';
