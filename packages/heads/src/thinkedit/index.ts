/**
 * ThinkEdit-style weight edit: find a behaviour direction in the residual stream (mean over
 * short outputs minus mean over long ones), pick the few heads whose output is most aligned with
 * it, and project the direction out of their W_O slice (reversible). The toy behaviour is output
 * length (`lengthTask`, `lengthDistribution`, `lengthSplit`).
 */
export { lengthTask, lengthPrompts, lengthDistribution, lengthSplit, type LengthTaskOptions, type LengthDistribution, type LengthSplit } from './length-task.js';
export { behaviourDirections, headAlignment, projectOutOfWO, type DirectionOptions, type BehaviourDirections, type HeadEdit } from './edit.js';
