import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelError, Transformer, configFromHF, configToHF, loadHFModel, modelFromHF, resolveConfig, writeSafetensors, type HFGPT2Config, type WritableTensor } from '../src/index.js';
import { SEED, randomModel } from './helpers.js';

/** A small checkpoint in memory: config.json as an object and model.safetensors bytes. */
async function checkpoint(over: Parameters<typeof randomModel>[0] = { vocabSize: 11, dModel: 8, nLayers: 2, nHeads: 2, nCtx: 6 }): Promise<{ cfg: HFGPT2Config; bytes: Uint8Array; tensors: Map<string, WritableTensor> }> {
  const m = randomModel(over, SEED);
  const tensors = new Map<string, WritableTensor>();
  for (const [name, t] of await m.stateDict()) tensors.set(name, t);
  return { cfg: configToHF(m.config), bytes: writeSafetensors(tensors), tensors };
}

function fails(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ModelError, `expected a ModelError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

test('config.json: n_layer / n_head of 1e9 or 2^31 fail at once naming the field, checked against the weights', async () => {
  const { cfg, bytes } = await checkpoint();
  for (const n of [1e9, 2 ** 31]) {
    fails(() => modelFromHF({ ...cfg, n_layer: n }, bytes), new RegExp(`config\\.json: n_layer must be at most 4096, got ${n}`));
    fails(() => modelFromHF({ ...cfg, n_head: n }, bytes), new RegExp(`config\\.json: n_head must be at most 4096, got ${n}`));
  }
  // Within the limits, the weights decide: 3 layers or 4 heads do not fit this file.
  fails(() => modelFromHF({ ...cfg, n_layer: 3 }, bytes), /n_layer is 3 but model\.safetensors holds 2 blocks \(h\.0 \.\.\. h\.1\)/);
  fails(() => modelFromHF({ ...cfg, n_layer: 1 }, bytes), /n_layer is 1 but model\.safetensors holds 2 blocks/);
  fails(() => modelFromHF({ ...cfg, n_head: 4, attnlab: { ...cfg.attnlab, dHead: 4 } }, bytes), /n_head x dHead is 4 x 4 but model\.safetensors has 3 x 8 query\/key\/value columns \(h\.0\.attn\.c_attn\.weight \[8, 24\]\)/);
  fails(() => modelFromHF({ ...cfg, vocab_size: 12 }, bytes), /vocab_size is 12 but model\.safetensors has 11 token rows/);
  fails(() => modelFromHF({ ...cfg, n_positions: 7 }, bytes), /n_positions is 7 but model\.safetensors has 6 position rows/);
  fails(() => modelFromHF({ ...cfg, n_inner: 16 }, bytes), /n_inner is 16 but model\.safetensors has an MLP width of 32/);
  fails(() => modelFromHF({ ...cfg, attnlab: { ...cfg.attnlab, attnOnly: true } }, bytes), /attnOnly is true but model\.safetensors holds MLP weights/);
  fails(() => modelFromHF({ ...cfg, attnlab: { ...cfg.attnlab, positional: 'rotary' } }, bytes), /attnlab\.positional is 'rotary' but model\.safetensors holds wpe\.weight/);
  fails(() => modelFromHF({ ...cfg, tie_word_embeddings: false }, bytes), /tie_word_embeddings is false but model\.safetensors has no lm_head\.weight/);
  fails(() => modelFromHF({ ...cfg, attnlab: { ...cfg.attnlab, norm: 'rmsnorm' } }, bytes), /model\.safetensors does not fit config\.json: unexpected tensor 'h\.0\.ln_1\.bias'/);
  fails(() => modelFromHF({ ...cfg, n_ctx: 5 }, bytes), /n_positions 6 and n_ctx 5 disagree/);
  // The untouched config loads.
  assert.equal(modelFromHF(cfg, bytes).config.nLayers, 2);
});

test('config.json: null, wrong types and out-of-range values are ModelErrors naming field and value', async () => {
  const { cfg, bytes } = await checkpoint();
  fails(() => configFromHF(null as never), /config\.json: must be a JSON object, got null/);
  fails(() => configFromHF([] as never), /must be a JSON object, got \[\]/);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ layer_norm_epsilon: 'x' }, /layer_norm_epsilon must be a finite number > 0, got "x"/],
    [{ layer_norm_epsilon: -1 }, /layer_norm_epsilon must be a finite number > 0, got -1/],
    [{ layer_norm_epsilon: 0 }, /layer_norm_epsilon must be a finite number > 0, got 0/],
    [{ tie_word_embeddings: 'yes' }, /tie_word_embeddings must be true or false, got "yes"/],
    [{ initializer_range: null }, /initializer_range must be a finite number >= 0, got null/],
    [{ n_embd: 8.5 }, /n_embd must be a positive integer, got 8\.5/],
    [{ n_embd: '8' }, /n_embd must be a positive integer, got "8"/],
    [{ vocab_size: -11 }, /vocab_size must be a positive integer, got -11/],
    [{ n_positions: 0 }, /n_positions must be a positive integer, got 0/],
    [{ n_inner: 'big' }, /n_inner must be a positive integer, got "big"/],
    [{ activation_function: 'swish' }, /activation_function "swish" is not supported/],
    [{ model_type: 7 }, /model_type 7; only 'gpt2'/],
    [{ scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx true is not supported/],
    [{ attnlab: { ...cfg.attnlab, rotaryBase: 'x' } }, /attnlab\.rotaryBase must be a finite number > 0, got "x"/],
    [{ attnlab: { ...cfg.attnlab, dHead: 2.5 } }, /attnlab\.dHead must be a positive integer, got 2\.5/],
    [{ attnlab: { ...cfg.attnlab, positional: 'alibi' } }, /attnlab\.positional must be one of 'learned', 'rotary', 'none', got "alibi"/],
    [{ attnlab: { ...cfg.attnlab, attnOnly: 'no' } }, /attnlab\.attnOnly must be true or false, got "no"/],
    [{ attnlab: { ...cfg.attnlab, rotaryBase: -5 } }, /attnlab\.rotaryBase must be a finite number > 0, got -5/],
  ];
  for (const [edit, re] of cases) fails(() => modelFromHF({ ...cfg, ...edit } as HFGPT2Config, bytes), re);
  // Through the file loader too: a config.json of `null`, and one with a repeated key.
  const dir = await mkdtemp(join(tmpdir(), 'attnlab-cfg-'));
  try {
    await writeFile(join(dir, 'model.safetensors'), bytes);
    await writeFile(join(dir, 'config.json'), 'null');
    await assert.rejects(loadHFModel(dir), (e: unknown) => e instanceof ModelError && /config\.json: must be a JSON object, got null/.test(e.message));
    await writeFile(join(dir, 'config.json'), JSON.stringify(cfg).replace('{', '{"n_layer": 9,'));
    await assert.rejects(loadHFModel(dir), /config\.json is not valid JSON \(repeated key "n_layer"/);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('config.json: a corrupted attnlab section is an error, never a silent softmax model', async () => {
  const { cfg, bytes } = await checkpoint();
  const linear = { ...cfg, attnlab: { ...cfg.attnlab, attention: 'linear' } };
  assert.equal(modelFromHF(linear, bytes).getAttentionChoice(1, 1).name, 'linear');
  const corrupt: [unknown, RegExp][] = [
    ['linear', /the attnlab section must be an object, got "linear"/],
    [null, /the attnlab section must be an object, got null/],
    [[1], /the attnlab section must be an object, got \[1\]/],
    [{ ...cfg.attnlab, atention: 'linear' }, /attnlab\.atention is not a setting attnlab knows/],
    [{ ...cfg.attnlab, attention: 5 }, /attnlab\.attention must be the name of an attention variant, got 5/],
    [{ ...cfg.attnlab, attention: '' }, /attnlab\.attention must be the name of an attention variant, got ""/],
    [{ ...cfg.attnlab, attention: 'linear-typo' }, /attnlab\.attention 'linear-typo' cannot be used \(.*linear-typo.*\); import the plugin/],
  ];
  for (const [section, re] of corrupt) fails(() => modelFromHF({ ...cfg, attnlab: section } as HFGPT2Config, bytes), re);
});

test('resolveConfig checks every field (the model constructor uses it too)', () => {
  fails(() => resolveConfig(null as never), /a model config must be an object, got null/);
  const ok = { vocabSize: 5, dModel: 4, nLayers: 1, nHeads: 2 };
  fails(() => new Transformer({ ...ok, normEps: -1 }), /normEps must be a finite number > 0, got -1/);
  fails(() => new Transformer({ ...ok, rotaryBase: Number.NaN }), /rotaryBase must be a finite number > 0, got NaN/);
  fails(() => new Transformer({ ...ok, tiedEmbeddings: 'yes' as never }), /tiedEmbeddings must be true or false, got "yes"/);
  fails(() => new Transformer({ ...ok, norm: 'batchnorm' as never }), /norm must be one of 'layernorm', 'rmsnorm', 'none', got "batchnorm"/);
  fails(() => new Transformer({ ...ok, nHeads: 8 }), /dModel 4 is smaller than nHeads 8: give dHead explicitly/);
  fails(() => new Transformer({ ...ok, nLayers: 4096, dModel: 2 ** 20, vocabSize: 2 ** 20 }), /config: this config has .* parameters, over the 4\.29e\+9 attnlab can hold/);
  assert.equal(resolveConfig(ok).dHead, 2);
});

test('weights holding NaN or Infinity load with one warning naming the tensors', async () => {
  const { cfg, tensors } = await checkpoint();
  const wte = tensors.get('wte.weight')!;
  const bad = Float32Array.from(wte.data as Float32Array);
  bad[3] = Number.NaN;
  const proj = tensors.get('h.1.attn.c_proj.bias')!;
  const inf = Float32Array.from(proj.data as Float32Array);
  inf[0] = -Infinity;
  const bytes = writeSafetensors(new Map([...tensors, ['wte.weight', { shape: wte.shape, data: bad }], ['h.1.attn.c_proj.bias', { shape: proj.shape, data: inf }]]));
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...a: unknown[]) => void warnings.push(a.join(' '));
  try {
    modelFromHF(cfg, bytes);
    modelFromHF(cfg, writeSafetensors(tensors));
  } finally {
    console.warn = warn;
  }
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, /loadHFModel: 2 weight tensors hold NaN or Infinity \(h\.1\.attn\.c_proj\.bias, wte\.weight\); loading them as they are/);
});
