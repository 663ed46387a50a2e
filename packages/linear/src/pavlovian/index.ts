/** The Pavlovian view of linear attention (Hebbian CS -> US memory): capacity against d_k, measured on the memory itself. */
export { hebbianRecall, hebbianReadoutNaive, capacityCurve, knee, fitLine, type RecallOptions, type RecallResult, type MemoryFeatureMap } from './capacity.js';
