import { ModelError } from './errors.js';

/** How token positions enter the model. */
export type Positional = 'learned' | 'rotary' | 'none';
export type NormKind = 'layernorm' | 'rmsnorm' | 'none';
export type Activation = 'gelu' | 'relu';

/** A decoder-only transformer of the GPT-2 family. JSON-serializable. */
export interface ModelConfig {
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Per-head width (default dModel / nHeads). */
  dHead: number;
  /** MLP hidden width (default 4 * dModel); ignored when attnOnly. */
  dMlp: number;
  /** Maximum context (size of the learned position table). */
  nCtx: number;
  positional: Positional;
  norm: NormKind;
  /** No MLP sublayer (TransformerLens "attn-only" models). */
  attnOnly: boolean;
  act: Activation;
  /** Unembedding is the transposed token embedding (GPT-2). */
  tiedEmbeddings: boolean;
  rotaryBase: number;
  normEps: number;
  /** Std of the normal initialisation (GPT-2: 0.02). */
  initStd: number;
}

export type ModelConfigInput = Partial<ModelConfig> & Pick<ModelConfig, 'vocabSize' | 'dModel' | 'nLayers' | 'nHeads'>;

/** Fill defaults and check the numbers fit together. */
export function resolveConfig(c: ModelConfigInput): ModelConfig {
  const dHead = c.dHead ?? Math.floor(c.dModel / c.nHeads);
  const cfg: ModelConfig = {
    vocabSize: c.vocabSize,
    dModel: c.dModel,
    nLayers: c.nLayers,
    nHeads: c.nHeads,
    dHead,
    dMlp: c.dMlp ?? 4 * c.dModel,
    nCtx: c.nCtx ?? 1024,
    positional: c.positional ?? 'learned',
    norm: c.norm ?? 'layernorm',
    attnOnly: c.attnOnly ?? false,
    act: c.act ?? 'gelu',
    tiedEmbeddings: c.tiedEmbeddings ?? true,
    rotaryBase: c.rotaryBase ?? 10000,
    normEps: c.normEps ?? 1e-5,
    initStd: c.initStd ?? 0.02,
  };
  for (const k of ['vocabSize', 'dModel', 'nLayers', 'nHeads', 'dHead', 'dMlp', 'nCtx'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) throw new ModelError('config', `${k} must be a positive integer, got ${String(cfg[k])}`);
  }
  if (cfg.positional === 'rotary' && cfg.dHead % 2 !== 0) throw new ModelError('config', `rotary positions need an even dHead, got ${cfg.dHead}`);
  if (!['learned', 'rotary', 'none'].includes(cfg.positional)) throw new ModelError('config', `unknown positional '${cfg.positional}'`);
  if (!['layernorm', 'rmsnorm', 'none'].includes(cfg.norm)) throw new ModelError('config', `unknown norm '${cfg.norm}'`);
  if (!['gelu', 'relu'].includes(cfg.act)) throw new ModelError('config', `unknown activation '${cfg.act}'`);
  return cfg;
}
