export { landmarkRows, retrievedCounts, landmarkParams, type LandmarkOptions } from './select.js';
export { landmarkVariant } from './variant.js';
export { naiveLandmarkKeep } from './naive.js';
