export { SCORE_NAMES, SCORE_DESCRIPTIONS, headScores, headScore, scoresFromPatterns, previousTokenScore, inductionScore, duplicateTokenScore, retrievalScore, sinkMassScore, entropyScore, type ScoreName, type ScoreOptions } from './head-scores.js';
export { scorePlot, barsWithCI, type ScorePlotOptions } from './plot.js';
export { toPrompts, type Prompts, type PromptInput } from './prompts.js';
export * as selections from './selections.js';
export { copyingScores, type CopyingOptions, type CopyingScores } from './copying.js';
export { eigenvalues, type Eigenvalues } from './eigenvalues.js';
