import type { Device } from '@attnlab/tensor';
import { resolveConfig, show, type ModelConfig } from './config.js';
import { ModelError, fmtShape } from './errors.js';
import { nonFiniteTensors, readSafetensors, writeSafetensors, type WritableTensor } from './safetensors.js';
import { JsonSyntaxError, parseStrictJson } from './strict-json.js';
import { Transformer } from './transformer.js';

/** The HF GPT-2 config.json fields we read, plus our own `attnlab` section for non-GPT-2 choices. */
export interface HFGPT2Config {
  model_type?: string;
  architectures?: string[];
  vocab_size: number;
  n_positions?: number;
  n_ctx?: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_inner?: number | null;
  activation_function?: string;
  layer_norm_epsilon?: number;
  initializer_range?: number;
  tie_word_embeddings?: boolean;
  attnlab?: Partial<Pick<ModelConfig, 'positional' | 'norm' | 'attnOnly' | 'dHead' | 'rotaryBase'>> & {
    /** Attention variant of every head when it is not 'softmax' (e.g. 'linear'). */
    attention?: string;
  };
  [extra: string]: unknown;
}

const ACTIVATIONS = ['gelu_new', 'gelu', 'gelu_pytorch_tanh', 'gelu_fast', 'relu'];
const ATTNLAB_KEYS = ['positional', 'norm', 'attnOnly', 'dHead', 'rotaryBase', 'attention'];

function cfgError(msg: string): never {
  throw new ModelError('loadHFModel', `config.json: ${msg}`);
}

/**
 * Map an HF GPT-2 config.json to a model config. Every field we read is checked for type and
 * range, and an error names the field and its value: nothing falls back to a default silently.
 */
export function configFromHF(hf: HFGPT2Config): ModelConfig {
  if (typeof hf !== 'object' || hf === null || Array.isArray(hf)) cfgError(`must be a JSON object, got ${show(hf)}`);
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(hf, k) && hf[k] !== undefined;
  // An optional field that is present is checked as given (null included): no silent default.
  const opt = (k: string, dflt: unknown): unknown => (has(k) ? hf[k] : dflt);
  if (has('model_type') && hf.model_type !== 'gpt2') cfgError(`model_type ${typeof hf.model_type === 'string' ? `'${hf.model_type}'` : show(hf.model_type)}; only 'gpt2' is supported`);
  for (const k of ['vocab_size', 'n_embd', 'n_layer', 'n_head'] as const) {
    if (!has(k)) cfgError(`lacks a numeric '${k}'`);
  }
  const int = (k: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) cfgError(`${k} must be a positive integer, got ${show(v)}`);
    return v;
  };
  const vocab = int('vocab_size', hf.vocab_size);
  const nEmbd = int('n_embd', hf.n_embd);
  const nLayer = int('n_layer', hf.n_layer);
  const nHead = int('n_head', hf.n_head);
  const nPos = has('n_positions') ? int('n_positions', hf.n_positions) : undefined;
  const nCtx = has('n_ctx') ? int('n_ctx', hf.n_ctx) : undefined;
  if (nPos !== undefined && nCtx !== undefined && nPos !== nCtx) cfgError(`n_positions ${nPos} and n_ctx ${nCtx} disagree`);
  const nInner = hf.n_inner === null || hf.n_inner === undefined ? undefined : int('n_inner', hf.n_inner);
  const act = opt('activation_function', 'gelu_new');
  if (typeof act !== 'string' || !ACTIVATIONS.includes(act)) cfgError(`activation_function ${show(act)} is not supported (${ACTIVATIONS.join(', ')})`);
  const eps = opt('layer_norm_epsilon', 1e-5);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) cfgError(`layer_norm_epsilon must be a finite number > 0, got ${show(eps)}`);
  const initStd = opt('initializer_range', 0.02);
  if (typeof initStd !== 'number' || !Number.isFinite(initStd) || initStd < 0) cfgError(`initializer_range must be a finite number >= 0, got ${show(initStd)}`);
  const tied = opt('tie_word_embeddings', true);
  if (typeof tied !== 'boolean') cfgError(`tie_word_embeddings must be true or false, got ${show(tied)}`);
  // GPT-2 options that change the computation; our model implements only their defaults.
  if (has('scale_attn_weights') && hf['scale_attn_weights'] !== true) cfgError(`scale_attn_weights ${show(hf['scale_attn_weights'])} is not supported (attention scores are always scaled)`);
  if (has('scale_attn_by_inverse_layer_idx') && hf['scale_attn_by_inverse_layer_idx'] !== false) cfgError(`scale_attn_by_inverse_layer_idx ${show(hf['scale_attn_by_inverse_layer_idx'])} is not supported`);
  if (has('add_cross_attention') && hf['add_cross_attention'] !== false) cfgError(`add_cross_attention ${show(hf['add_cross_attention'])} is not supported (decoder-only models)`);
  const x = attnlabSection(hf);
  try {
    return resolveConfig({
      vocabSize: vocab,
      dModel: nEmbd,
      nLayers: nLayer,
      nHeads: nHead,
      ...(x.dHead !== undefined ? { dHead: x.dHead } : {}),
      dMlp: nInner ?? 4 * nEmbd,
      nCtx: nPos ?? nCtx ?? 1024,
      positional: x.positional ?? 'learned',
      norm: x.norm ?? 'layernorm',
      attnOnly: x.attnOnly ?? false,
      // Our GELU is the tanh form (gelu_new); HF's exact 'gelu' differs by < 1e-3.
      act: act === 'relu' ? 'relu' : 'gelu',
      tiedEmbeddings: tied,
      rotaryBase: x.rotaryBase ?? 10000,
      normEps: eps,
      initStd,
    });
  } catch (e) {
    // Say it in config.json's own field names.
    if (e instanceof ModelError) cfgError(e.message.replace(/^config: (\w+)/, (_, f: string) => HF_FIELD[f] ?? f));
    throw e;
  }
}

const HF_FIELD: Record<string, string> = {
  vocabSize: 'vocab_size', dModel: 'n_embd', nLayers: 'n_layer', nHeads: 'n_head', dHead: 'attnlab.dHead', dMlp: 'n_inner',
  nCtx: 'n_positions', normEps: 'layer_norm_epsilon', rotaryBase: 'attnlab.rotaryBase', initStd: 'initializer_range',
};

/** Our own section: an object holding only the keys we write, each of the right type. */
function attnlabSection(hf: HFGPT2Config): NonNullable<HFGPT2Config['attnlab']> {
  const x: unknown = hf.attnlab;
  if (x === undefined) return {};
  if (typeof x !== 'object' || x === null || Array.isArray(x)) cfgError(`the attnlab section must be an object, got ${show(x)}`);
  const sec = x as Record<string, unknown>;
  const unknown = Object.keys(sec).filter((k) => !ATTNLAB_KEYS.includes(k));
  if (unknown.length) cfgError(`attnlab.${unknown[0]} is not a setting attnlab knows (${ATTNLAB_KEYS.join(', ')})`);
  const enumOf = (k: string, allowed: string[]): void => {
    if (sec[k] !== undefined && (typeof sec[k] !== 'string' || !allowed.includes(sec[k] as string))) cfgError(`attnlab.${k} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(sec[k])}`);
  };
  enumOf('positional', ['learned', 'rotary', 'none']);
  enumOf('norm', ['layernorm', 'rmsnorm', 'none']);
  if (sec['attnOnly'] !== undefined && typeof sec['attnOnly'] !== 'boolean') cfgError(`attnlab.attnOnly must be true or false, got ${show(sec['attnOnly'])}`);
  if (sec['dHead'] !== undefined && (typeof sec['dHead'] !== 'number' || !Number.isSafeInteger(sec['dHead']) || sec['dHead'] <= 0)) cfgError(`attnlab.dHead must be a positive integer, got ${show(sec['dHead'])}`);
  const rb = sec['rotaryBase'];
  if (rb !== undefined && (typeof rb !== 'number' || !Number.isFinite(rb) || rb <= 0)) cfgError(`attnlab.rotaryBase must be a finite number > 0, got ${show(rb)}`);
  const att = sec['attention'];
  if (att !== undefined) {
    if (typeof att !== 'string' || !att) cfgError(`attnlab.attention must be the name of an attention variant, got ${show(att)}`);
  }
  return sec as NonNullable<HFGPT2Config['attnlab']>;
}

export function configToHF(c: ModelConfig): HFGPT2Config {
  return {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: c.vocabSize,
    n_positions: c.nCtx,
    n_embd: c.dModel,
    n_layer: c.nLayers,
    n_head: c.nHeads,
    n_inner: c.dMlp,
    activation_function: c.act === 'relu' ? 'relu' : 'gelu_new',
    layer_norm_epsilon: c.normEps,
    initializer_range: c.initStd,
    tie_word_embeddings: c.tiedEmbeddings,
    attnlab: { positional: c.positional, norm: c.norm, attnOnly: c.attnOnly, dHead: c.dHead, rotaryBase: c.rotaryBase },
  };
}

/** HF names -> ours: drop the `transformer.` prefix and the causal-mask buffers. */
function mapName(name: string, cfg: ModelConfig): string | null {
  let n = name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
  if (/\.attn\.(bias|masked_bias)$/.test(n)) return null;
  if (n === 'lm_head.weight' && cfg.tiedEmbeddings) return null;
  if (n.startsWith('model.')) n = n.slice('model.'.length);
  return n;
}

/**
 * Check config.json against the tensors actually present before building anything, so a wrong
 * or hostile number fails at once with the field named (n_layer = 1e9 would otherwise allocate a
 * billion blocks). Whatever these checks do not name, loadStateDict's strict shape check catches.
 */
function checkAgainstWeights(cfg: ModelConfig, state: Map<string, { shape: readonly number[] }>): void {
  const shape = (n: string): readonly number[] | undefined => state.get(n)?.shape;
  const mismatch = (field: string, value: number | string, tensor: string, holds: string): never =>
    cfgError(`${field} is ${value} but model.safetensors ${holds} (${tensor})`);
  const blocks = new Set<number>();
  for (const name of state.keys()) {
    const m = /^h\.(\d+)\./.exec(name);
    if (m) blocks.add(Number(m[1]));
  }
  const maxBlock = blocks.size ? Math.max(...blocks) : -1;
  if (blocks.size !== cfg.nLayers || maxBlock !== cfg.nLayers - 1) {
    const missing = Array.from({ length: Math.min(maxBlock + 1, 1e4) }, (_, l) => l).filter((l) => !blocks.has(l));
    mismatch('n_layer', cfg.nLayers, blocks.size ? `h.0 ... h.${maxBlock}` : 'no h.{l}.* tensors', `holds ${blocks.size} blocks${missing.length ? `, missing h.${missing[0]}` : ''}`);
  }
  const wte = shape('wte.weight');
  if (!wte || wte.length !== 2) cfgError(`model.safetensors has no 2-D wte.weight (the token embedding)`);
  if (wte[0] !== cfg.vocabSize) mismatch('vocab_size', cfg.vocabSize, `wte.weight ${fmtShape(wte)}`, `has ${wte[0]} token rows`);
  if (wte[1] !== cfg.dModel) mismatch('n_embd', cfg.dModel, `wte.weight ${fmtShape(wte)}`, `has width ${wte[1]}`);
  const wpe = shape('wpe.weight');
  if (cfg.positional === 'learned') {
    if (!wpe) cfgError(`positions are learned (attnlab.positional) but model.safetensors has no wpe.weight`);
    if (wpe[0] !== cfg.nCtx) mismatch('n_positions', cfg.nCtx, `wpe.weight ${fmtShape(wpe)}`, `has ${wpe[0]} position rows`);
  } else if (wpe) cfgError(`attnlab.positional is '${cfg.positional}' but model.safetensors holds wpe.weight ${fmtShape(wpe)}`);
  const qkv = shape('h.0.attn.c_attn.weight');
  if (qkv && qkv.length === 2 && qkv[1] !== 3 * cfg.nHeads * cfg.dHead) {
    mismatch('n_head x dHead', `${cfg.nHeads} x ${cfg.dHead}`, `h.0.attn.c_attn.weight ${fmtShape(qkv)}`, `has 3 x ${qkv[1]! / 3} query/key/value columns`);
  }
  const fc = shape('h.0.mlp.c_fc.weight');
  if (cfg.attnOnly && fc) cfgError(`attnlab.attnOnly is true but model.safetensors holds MLP weights (h.0.mlp.c_fc.weight)`);
  if (!cfg.attnOnly && fc && fc.length === 2 && fc[1] !== cfg.dMlp) mismatch('n_inner', cfg.dMlp, `h.0.mlp.c_fc.weight ${fmtShape(fc)}`, `has an MLP width of ${fc[1]}`);
  const lmHead = state.has('lm_head.weight');
  if (!cfg.tiedEmbeddings && !lmHead) cfgError('tie_word_embeddings is false but model.safetensors has no lm_head.weight');
}

/** Build a model from config.json text/object and safetensors bytes. */
export function modelFromHF(configJson: HFGPT2Config, safetensors: Uint8Array, options: { device?: Device } = {}): Transformer {
  const cfg = configFromHF(configJson);
  const file = readSafetensors(safetensors);
  const nonFinite = nonFiniteTensors(file);
  if (nonFinite.length) {
    const shown = nonFinite.slice(0, 8).join(', ') + (nonFinite.length > 8 ? `, and ${nonFinite.length - 8} more` : '');
    console.warn(`loadHFModel: ${nonFinite.length} weight tensor${nonFinite.length > 1 ? 's hold' : ' holds'} NaN or Infinity (${shown}); loading them as they are`);
  }
  const state = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [name, t] of file.tensors) {
    const ours = mapName(name, cfg);
    if (ours === null) continue;
    if (!(t.data instanceof Float32Array)) throw new ModelError('loadHFModel', `tensor '${name}' is ${t.dtype}; weights must be floating point`);
    state.set(ours, { data: t.data, shape: t.shape });
  }
  checkAgainstWeights(cfg, state);
  const model = new Transformer(cfg, { ...(options.device ? { device: options.device } : {}), init: false });
  try {
    model.loadStateDict(state);
  } catch (e) {
    if (e instanceof ModelError) throw new ModelError('loadHFModel', `model.safetensors does not fit config.json: ${e.message.replace(/^loadStateDict: /, '')}`);
    throw e;
  }
  const variant = configJson.attnlab?.attention;
  if (variant !== undefined && variant !== 'softmax') {
    try {
      model.setAttention('all', variant);
    } catch (e) {
      cfgError(`attnlab.attention '${variant}' cannot be used (${(e as Error).message}); import the plugin that registers it before loading`);
    }
  }
  return model;
}

function isUrl(s: string): boolean {
  return /^(https?|blob|data|file):/i.test(s) || typeof (globalThis as { process?: unknown }).process === 'undefined';
}

async function nodeFs(): Promise<typeof import('node:fs/promises')> {
  const name = 'node:fs/promises';
  return (await import(/* webpackIgnore: true */ /* @vite-ignore */ name)) as typeof import('node:fs/promises');
}

/** The host's path resolver (the browser kernel installs one: notebook folder, `/` = lab root), if any. */
function hostResolvePath(): ((path: string) => string) | null {
  const f = (globalThis as Record<symbol, unknown>)[Symbol.for('attnlab.resolvePath')];
  return typeof f === 'function' ? (f as (path: string) => string) : null;
}

async function readBytes(base: string, file: string): Promise<Uint8Array> {
  if (isUrl(base)) {
    const joined = base.replace(/\/?$/, '/') + file;
    const url = hostResolvePath()?.(joined) ?? joined;
    let r: Response;
    try {
      r = await fetch(url);
    } catch (e) {
      throw new ModelError('loadHFModel', `fetching ${url} failed: ${(e as Error).message}`);
    }
    if (!r.ok) {
      const hint = r.status === 404 && hostResolvePath() && !/^[a-z][a-z0-9+.-]*:/i.test(base) ? ` (a relative path starts at the notebook's folder, '/' at the lab's root)` : '';
      throw new ModelError('loadHFModel', `fetching ${url} failed: HTTP ${r.status}${hint}`);
    }
    return new Uint8Array(await r.arrayBuffer());
  }
  const fs = await nodeFs();
  const path = base.replace(/\/?$/, '/') + file;
  try {
    return new Uint8Array(await fs.readFile(path));
  } catch (e) {
    throw new ModelError('loadHFModel', `cannot read ${path}: ${(e as Error).message}`);
  }
}

/**
 * Load a GPT-2-style checkpoint: `config.json` + `model.safetensors` from a folder (Node) or a
 * URL (fetch; browsers and Node).
 */
export async function loadHFModel(folderOrUrl: string, options: { device?: Device } = {}): Promise<Transformer> {
  const cfgBytes = await readBytes(folderOrUrl, 'config.json');
  let cfg: HFGPT2Config;
  try {
    cfg = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(cfgBytes)) as HFGPT2Config;
  } catch (e) {
    if (!(e instanceof JsonSyntaxError) && !(e instanceof TypeError)) throw e;
    throw new ModelError('loadHFModel', `config.json is not valid JSON (${(e as Error).message})`);
  }
  const st = await readBytes(folderOrUrl, 'model.safetensors');
  return modelFromHF(cfg, st, options);
}

/** The model's weights as safetensors bytes (GPT-2 names). */
export async function modelToSafetensors(model: Transformer, metadata?: Record<string, string>): Promise<Uint8Array> {
  const tensors = new Map<string, WritableTensor>();
  for (const [name, t] of await model.stateDict()) tensors.set(name, t);
  return writeSafetensors(tensors, { format: 'pt', ...metadata });
}

/** Write config.json + model.safetensors (+ extra JSON files) into a folder (Node). */
export async function saveModel(model: Transformer, folder: string, extra: Record<string, unknown> = {}): Promise<void> {
  const fs = await nodeFs();
  await fs.mkdir(folder, { recursive: true });
  const dir = folder.replace(/\/?$/, '/');
  const hf = configToHF(model.config);
  const v = model.getAttentionChoice(0, 0).name;
  const uniform = model.config.nLayers > 0 && Array.from({ length: model.config.nLayers }, (_, l) => l).every((l) =>
    Array.from({ length: model.config.nHeads }, (_, h) => model.getAttentionChoice(l, h).name).every((n) => n === v));
  if (!uniform) throw new ModelError('saveModel', 'heads use different attention variants; config.json can only record one');
  if (v !== 'softmax') hf.attnlab = { ...hf.attnlab, attention: v };
  await fs.writeFile(dir + 'config.json', JSON.stringify(hf, null, 2) + '\n');
  await fs.writeFile(dir + 'model.safetensors', await modelToSafetensors(model));
  for (const [file, value] of Object.entries(extra)) await fs.writeFile(dir + file, JSON.stringify(value, null, 2) + '\n');
}
