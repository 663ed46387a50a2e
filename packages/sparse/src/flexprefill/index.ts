export { flexPrefillPlan, pooledBlockScores, jsDivergence, cumulativeTopP, type FlexPrefillOptions, type FlexPrefillPlan } from './plan.js';
export { flexPrefillVariant } from './variant.js';
export { naiveVerticalSlashTiles } from './naive.js';
