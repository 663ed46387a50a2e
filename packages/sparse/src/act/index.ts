/** H6 ACT: non-initial sink detection, the 'act' per-head variant (β down-weighting with proportional redistribution), head calibration on a QA set. */
export { actVariant, ACT_OPTIONS, type SinkPositions } from './variant.js';
export { detectSinks, qaAccuracy, calibrateACT, applyACT, type QAItem, type DetectOptions, type HeadRef, type SinkMap, type Calibration } from './calibrate.js';
export { copyQA, type CopyQAOptions } from './qa.js';
export { naiveActAttention, naiveDetectSinks } from './naive.js';
