/** H3 RazorAttention: retrieval heads full, others sinks + window plus a compensation token (mean of the dropped keys and values). */
export { compensatedAttention, droppedCount, type CompensationOptions } from './compensated.js';
export { razorHooks, headOutputErrors, type HeadErrors } from './heads.js';
export { razorVariant } from './variant.js';
