export {
  initSeerGate, distillSeerGate, gateProbs, selectBlocks, blockTargets, poolHead, lastKeyBlock,
  type SeerGate, type SeerGateShape, type SeerSample, type DistillOptions, type BlockSelect,
} from './gate.js';
export { seerVariant } from './variant.js';
export { naiveGateProbs, naiveTopKKeep } from './naive.js';
