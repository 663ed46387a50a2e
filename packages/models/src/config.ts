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

/**
 * Upper bounds that keep a corrupt or hostile config from allocating for minutes before failing:
 * the model builds per-layer and per-head state up front. Far above any model attnlab can run.
 */
export const CONFIG_LIMITS = { nLayers: 4096, nHeads: 4096, dim: 2 ** 31 - 1, params: 2 ** 32 } as const;

const POSITIONAL: readonly Positional[] = ['learned', 'rotary', 'none'];
const NORMS: readonly NormKind[] = ['layernorm', 'rmsnorm', 'none'];
const ACTS: readonly Activation[] = ['gelu', 'relu'];

function bad(field: string, want: string, got: unknown): never {
  throw new ModelError('config', `${field} must be ${want}, got ${show(got)}`);
}

/** A value as it appears in an error: JSON for plain data, else its type. */
export function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'bigint') return `${v}n`;
  try {
    const j = JSON.stringify(v);
    return j === undefined ? String(v) : j.length > 60 ? j.slice(0, 57) + '...' : j;
  } catch {
    return typeof v;
  }
}

function posInt(field: string, v: unknown, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) bad(field, 'a positive integer', v);
  if (v > max) bad(field, `at most ${max}`, v);
  return v;
}

function posFinite(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(field, 'a finite number > 0', v);
  return v;
}

function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) bad(field, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v);
  return v as T;
}

function bool(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') bad(field, 'true or false', v);
  return v;
}

/** Fill defaults and check every field's type and range, and that the numbers fit together. */
export function resolveConfig(c: ModelConfigInput): ModelConfig {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new ModelError('config', `a model config must be an object, got ${show(c)}`);
  const L = CONFIG_LIMITS;
  const dModel = posInt('dModel', c.dModel, L.dim);
  const nHeads = posInt('nHeads', c.nHeads, L.nHeads);
  if (c.dHead === undefined && dModel < nHeads) throw new ModelError('config', `dModel ${dModel} is smaller than nHeads ${nHeads}: give dHead explicitly`);
  const cfg: ModelConfig = {
    vocabSize: posInt('vocabSize', c.vocabSize, L.dim),
    dModel,
    nLayers: posInt('nLayers', c.nLayers, L.nLayers),
    nHeads,
    dHead: posInt('dHead', c.dHead ?? Math.floor(dModel / nHeads), L.dim),
    dMlp: posInt('dMlp', c.dMlp ?? 4 * dModel, L.dim),
    nCtx: posInt('nCtx', c.nCtx ?? 1024, L.dim),
    positional: oneOf('positional', c.positional ?? 'learned', POSITIONAL),
    norm: oneOf('norm', c.norm ?? 'layernorm', NORMS),
    attnOnly: bool('attnOnly', c.attnOnly ?? false),
    act: oneOf('act', c.act ?? 'gelu', ACTS),
    tiedEmbeddings: bool('tiedEmbeddings', c.tiedEmbeddings ?? true),
    rotaryBase: posFinite('rotaryBase', c.rotaryBase ?? 10000),
    normEps: posFinite('normEps', c.normEps ?? 1e-5),
    initStd: c.initStd ?? 0.02,
  };
  if (typeof cfg.initStd !== 'number' || !Number.isFinite(cfg.initStd) || cfg.initStd < 0) bad('initStd', 'a finite number >= 0', cfg.initStd);
  if (cfg.positional === 'rotary' && cfg.dHead % 2 !== 0) throw new ModelError('config', `rotary positions need an even dHead, got ${cfg.dHead}`);
  const params = paramCount(cfg);
  if (params > L.params) throw new ModelError('config', `this config has ${params.toExponential(2)} parameters, over the ${L.params.toExponential(2)} attnlab can hold (nLayers ${cfg.nLayers}, dModel ${cfg.dModel}, nHeads ${cfg.nHeads} x dHead ${cfg.dHead}, dMlp ${cfg.dMlp}, vocabSize ${cfg.vocabSize})`);
  return cfg;
}

/** Number of parameters a config implies (as Transformer.paramShapes lays them out). */
export function paramCount(c: ModelConfig): number {
  const hd = c.nHeads * c.dHead;
  const norm = c.norm === 'none' ? 0 : c.norm === 'layernorm' ? 2 * c.dModel : c.dModel;
  const attn = c.dModel * 3 * hd + 3 * hd + hd * c.dModel + c.dModel;
  const mlp = c.attnOnly ? 0 : norm + c.dModel * c.dMlp + c.dMlp + c.dMlp * c.dModel + c.dModel;
  return c.vocabSize * c.dModel * (c.tiedEmbeddings ? 1 : 2) + (c.positional === 'learned' ? c.nCtx * c.dModel : 0) + c.nLayers * (norm + attn + mlp) + norm;
}
