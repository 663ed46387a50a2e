export { rng, randnArray, roundFp16, toFp16Values, relErr, maxAbsDiff } from './numeric.js';
