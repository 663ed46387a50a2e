/**
 * H5 HeadHunter / SoftPAG (Fine-Grained Perturbation Guidance via Attention Head Selection): the
 * method on top of @attnlab/models' generic per-head pattern transform. SoftPAG interpolates the
 * selected heads' attention maps toward the identity with strength u; PAG-style guidance steers a
 * DDIM sampler away from that weak model (ε̃ = ε + w·(ε − ε_{S,u})); HeadHunter picks ≤ k heads by
 * greedy forward selection on an objective. Image metrics (shape IoU, high-frequency energy,
 * pixel variance, classifier score) measure what a head set changes.
 */
export { withSoftPAG, pagGuidance, layerHeads, type SteerableModel, type PAGOptions } from './perturb.js';
export { headHunter, type HeadHunterOptions, type HeadHunterStep, type HeadHunterResult } from './headhunter.js';
export { shapeIoU, highFrequencyEnergy, pixelVariance, classifierScore, type ImageBatch, type ImageClassifier } from './image-metrics.js';
