/**
 * H8 VHD/VHR on a context-vs-prior conflict task: `vhdScores` (per-head divergence between runs
 * with and without the context), `reinforceHeads` (VHR: scale the top heads' outputs by γ), the
 * task (`conflictTask`, `conflictPrompts`) and `conflictScore` (prior-driven error counts).
 */
export { vhdScores, vhdScore, type VhdOptions, type VhdDistance } from './score.js';
export { reinforceHeads, withReinforced, conflictScore, randomHeadSets, type Reinforcement, type ConflictScore } from './vhr.js';
export { conflictTask, conflictPrompts, conflictLayout, type ConflictTaskOptions, type ConflictLayout, type ConflictKind, type ConflictPrompts } from './conflict-task.js';
