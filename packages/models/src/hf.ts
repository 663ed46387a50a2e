import type { Device } from '@attnlab/tensor';
import { resolveConfig, type ModelConfig } from './config.js';
import { ModelError } from './errors.js';
import { readSafetensors, writeSafetensors, type WritableTensor } from './safetensors.js';
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

/** Map an HF GPT-2 config.json to a model config. */
export function configFromHF(hf: HFGPT2Config): ModelConfig {
  if (hf.model_type !== undefined && hf.model_type !== 'gpt2') throw new ModelError('loadHFModel', `config.json has model_type '${hf.model_type}'; only 'gpt2' is supported`);
  for (const k of ['vocab_size', 'n_embd', 'n_layer', 'n_head'] as const) {
    if (typeof hf[k] !== 'number') throw new ModelError('loadHFModel', `config.json lacks a numeric '${k}'`);
  }
  const act = hf.activation_function ?? 'gelu_new';
  if (!['gelu_new', 'gelu', 'gelu_pytorch_tanh', 'gelu_fast', 'relu'].includes(act)) throw new ModelError('loadHFModel', `activation_function '${act}' is not supported`);
  const x = hf.attnlab ?? {};
  return resolveConfig({
    vocabSize: hf.vocab_size,
    dModel: hf.n_embd,
    nLayers: hf.n_layer,
    nHeads: hf.n_head,
    ...(x.dHead !== undefined ? { dHead: x.dHead } : {}),
    dMlp: hf.n_inner ?? 4 * hf.n_embd,
    nCtx: hf.n_positions ?? hf.n_ctx ?? 1024,
    positional: x.positional ?? 'learned',
    norm: x.norm ?? 'layernorm',
    attnOnly: x.attnOnly ?? false,
    // Our GELU is the tanh form (gelu_new); HF's exact 'gelu' differs by < 1e-3.
    act: act === 'relu' ? 'relu' : 'gelu',
    tiedEmbeddings: hf.tie_word_embeddings ?? true,
    rotaryBase: x.rotaryBase ?? 10000,
    normEps: hf.layer_norm_epsilon ?? 1e-5,
    initStd: hf.initializer_range ?? 0.02,
  });
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

/** Build a model from config.json text/object and safetensors bytes. */
export function modelFromHF(configJson: HFGPT2Config, safetensors: Uint8Array, options: { device?: Device } = {}): Transformer {
  const cfg = configFromHF(configJson);
  const file = readSafetensors(safetensors);
  const state = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [name, t] of file.tensors) {
    const ours = mapName(name, cfg);
    if (ours === null) continue;
    if (!(t.data instanceof Float32Array)) throw new ModelError('loadHFModel', `tensor '${name}' is ${t.dtype}; weights must be floating point`);
    state.set(ours, { data: t.data, shape: t.shape });
  }
  const model = new Transformer(cfg, { ...(options.device ? { device: options.device } : {}), init: false });
  model.loadStateDict(state);
  const variant = configJson.attnlab?.attention;
  if (variant && variant !== 'softmax') model.setAttention('all', variant);
  return model;
}

function isUrl(s: string): boolean {
  return /^(https?|blob|data|file):/i.test(s) || typeof (globalThis as { process?: unknown }).process === 'undefined';
}

async function nodeFs(): Promise<typeof import('node:fs/promises')> {
  const name = 'node:fs/promises';
  return (await import(/* webpackIgnore: true */ /* @vite-ignore */ name)) as typeof import('node:fs/promises');
}

async function readBytes(base: string, file: string): Promise<Uint8Array> {
  if (isUrl(base)) {
    const url = base.replace(/\/?$/, '/') + file;
    const r = await fetch(url);
    if (!r.ok) throw new ModelError('loadHFModel', `fetching ${url} failed: HTTP ${r.status}`);
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
    cfg = JSON.parse(new TextDecoder().decode(cfgBytes)) as HFGPT2Config;
  } catch (e) {
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
