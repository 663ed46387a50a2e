export { landmarkRows, retrievedCounts, landmarkParams, type LandmarkOptions } from './select.js';
export { landmarkVariant } from './variant.js';
export { groupedLandmarkAttention, groupedMasks, landmarkGroupedVariant, type GroupedOptions } from './grouped.js';
export { naiveLandmarkKeep, naiveGroupedLandmark } from './naive.js';
