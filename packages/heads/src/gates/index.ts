export { freeze, withFrozen, type Frozen, type HasParameters } from './freeze.js';
export { HeadGates, type HeadGatesOptions } from './head-gates.js';
