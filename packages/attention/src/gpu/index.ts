export { flashForwardGpu, flashBackwardGpu, uploadPlan, destroyPlan } from './flash.js';
export type { FlashGpuState } from './flash.js';
export { linearChunkGpu } from './linear.js';
export type { LinearGpuDims } from './linear.js';
export { getPipeline, pipelineCount, createBufferFrom, createStorage, encodeDispatch, readBuffer } from './runner.js';
