/** L3 Zoology: the gated-convolution baseline (the MQAR generator itself is @attnlab/models' tasks.mqar). */
export { gatedConv, gatedConvTimescales, gatedConvStateBytes, type GatedConvOptions } from './gated-conv.js';
export { gatedConvVariant, GATED_CONV_OPTIONS } from './variant.js';
export { gatedConvNaive, type GatedConvDims } from './naive.js';
export { recallProblem, scoreRecall, mixNaive, mixWithOps, probeRecall, probeStateBytes, type RecallProblem, type ProbeMixer } from './recall-probe.js';
export { shiftKeys, keyShiftVariant, softmaxShiftVariant, linearShiftVariant } from './shift.js';
