/**
 * @attnlab/models — hookable transformers with TransformerLens hook names, per-head controls and
 * attention variants, patching, safetensors + HF GPT-2 loading, tokenizers, training on synthetic
 * tasks, and the small checkpoints the paper notebooks load.
 */
export { ModelError } from './errors.js';
export { resolveConfig, type ModelConfig, type ModelConfigInput, type Positional, type NormKind, type Activation } from './config.js';
export { HeadControls, gateAndAblate, type HeadControl, type HeadSelector, type HeadsListener, type PerturbMode } from './heads.js';
export { hookNames, matches, type Hook, type HookFn, type HookFilter, type HookContext, type BackwardHook, type BackwardHookFn } from './hooks.js';
export { makeActivationCache, type ActivationCache, type ActivationCacheHelpers, type ResidStack, type CacheModel } from './activation-cache.js';
export { denseAttention, patternPerturbFor, causalMask, maskBias, type PatternPerturb, type DenseOptions } from './attention.js';
export {
  Transformer, sampleRow,
  type TokenInput, type RunOptions, type RunWithCacheOptions, type GenerateOptions, type AttentionSelector, type AttentionChoice,
} from './transformer.js';
export { tasks, induction, mqar, copy, passkey, grammar, grammarSentence, GRAMMAR_WORDS, type Task, type Batch, type InductionOptions, type MQAROptions, type CopyOptions, type PasskeyOptions, type GrammarOptions } from './tasks.js';
export { train, evaluate, maskedCrossEntropy, batchTensors, type TrainOptions, type TrainResult, type StepInfo, type EvalOptions, type EvalResult, type TrainState, type EarlyStopping } from './train.js';
export { saveTrainCheckpoint, loadTrainCheckpoint } from './train-state.js';
export { stopTrainingWorkers } from './train-parallel.js';
export { textTask, type TextTaskOptions } from './text-task.js';
export { progressText, formatDuration } from './progress-line.js';
export { readSafetensors, writeSafetensors, MAX_HEADER_BYTES, type SafeTensor, type SafetensorsFile, type SafetensorsDType, type WritableTensor } from './safetensors.js';
export { loadHFModel, modelFromHF, configFromHF, configToHF, modelToSafetensors, saveModel, type HFGPT2Config } from './hf.js';
export { CharTokenizer, ByteTokenizer, BPETokenizer, trainBPE, GPT2_PATTERN, type Tokenizer, type TokenizerJson } from './tokenizers.js';
export { patchingSweep, logitDiff, accuracy, type PatchingOptions, type PatchingResult, type PatchMetric, type PatchSite } from './patching.js';
export { exportOnnx, type OnnxExportOptions } from './onnx.js';
export {
  registerScore, getScore, listScores, unregisterScore, computeScore, registerAnalysis, getAnalysis, listAnalyses, unregisterAnalysis,
  type HeadScore, type Analysis,
} from './scores-registry.js';
export { ViT, shapes, trainViT, evaluateViT, SHAPE_CLASSES, type ViTConfig, type ViTConfigInput, type HeadRouter, type ViTRunOptions, type ImageInput, type ShapesOptions, type ShapesBatch, type ViTTrainOptions } from './vit.js';
export { DiT, sampleDDIM, trainDiT, alphasCumprod, timestepFeatures, toModelSpace, type DiTConfig, type DiTConfigInput, type DiTRunOptions, type DDIMOptions, type GuidanceContext, type GuidanceHook, type DiTTrainOptions } from './dit.js';
export { attnlabPlugin } from './plugin.js';
