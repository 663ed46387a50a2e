export { HeadSweep, headSweep, ablationHooks, allHeads, headLabel, type AblationMode, type AblationResult, type RandomBaseline, type SweepOptions, type SweepProgress } from './ablation.js';
export { pairedBootstrapCI, ratio, type BootstrapOptions, type RowTotals } from './bootstrap.js';
export { accuracyMetric, nllMetric, type RowMetric } from './metrics.js';
