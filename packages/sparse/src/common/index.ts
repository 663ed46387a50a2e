export { rng, gaussian } from './random.js';
export { median, linearFit, logLogSlope, medianTime, interleavedMedianTimes, type LineFit } from './stats.js';
export { denseMask, type KeepFn } from './dense.js';
