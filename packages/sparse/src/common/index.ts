export { rng, gaussian } from './random.js';
export { median, linearFit, logLogSlope, medianTime, type LineFit } from './stats.js';
export { denseMask, type KeepFn } from './dense.js';
