export { HeadSweep, headSweep, ablationHooks, allHeads, headLabel, randomHeadSets, type RandomSetOptions, type AblationMode, type AblationResult, type RandomBaseline, type SweepOptions, type SweepProgress } from './ablation.js';
export { pairedBootstrapCI, normalizedBootstrapCI, meanBootstrapCI, randomSubsets, ratio, type BootstrapOptions, type RowTotals } from './bootstrap.js';
export { accuracyMetric, nllMetric, type RowMetric } from './metrics.js';
export { ActivationPatching, activationPatching, rowLogitDiff, patchingTensor, type PatchSite, type ResidualSite, type PatchTarget, type LogitDiffAnswers, type RowValues, type PatchingOptions, type PatchResult, type PatchingGrid, type PatchingBaseline } from './patching.js';
export { patchingPlot } from './patching-plot.js';
