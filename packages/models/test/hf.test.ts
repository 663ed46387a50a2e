import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '@attnlab/tensor';
import { configFromHF, loadHFModel, saveModel, writeSafetensors, type WritableTensor } from '../src/index.js';
import { SEED, assertClose, randomModel, randomTokens } from './helpers.js';

/** A GPT-2-shaped checkpoint as transformers writes it: `transformer.` prefixes, mask buffers, lm_head. */
async function writeHFCheckpoint(dir: string): Promise<ReturnType<typeof randomModel>> {
  const src = randomModel({ vocabSize: 23, dModel: 16, nLayers: 2, nHeads: 4, nCtx: 24 }, SEED);
  const tensors = new Map<string, WritableTensor>();
  for (const [name, t] of await src.stateDict()) tensors.set(`transformer.${name}`, t);
  for (let l = 0; l < 2; l++) tensors.set(`transformer.h.${l}.attn.bias`, { shape: [1, 1, 24, 24], data: new Float32Array(24 * 24).fill(1) });
  tensors.set('lm_head.weight', tensors.get('transformer.wte.weight')!);
  await writeFile(join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
  await writeFile(join(dir, 'config.json'), JSON.stringify({
    activation_function: 'gelu_new', architectures: ['GPT2LMHeadModel'], model_type: 'gpt2',
    n_ctx: 24, n_positions: 24, n_embd: 16, n_head: 4, n_layer: 2, n_inner: null, vocab_size: 23,
    layer_norm_epsilon: 1e-5, initializer_range: 0.02, resid_pdrop: 0.1, bos_token_id: 0,
  }));
  return src;
}

test('loadHFModel reads an HF GPT-2 config.json + model.safetensors from a folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'attnlab-hf-'));
  try {
    const src = await writeHFCheckpoint(dir);
    const model = await loadHFModel(dir);
    assert.equal(model.config.dMlp, 64, 'n_inner null means 4 * n_embd');
    assert.equal(model.config.tiedEmbeddings, true);
    const toks = randomTokens(new Rng(SEED), 2, 9, 23);
    assertClose(await (await model.forward(toks)).data(), await (await src.forward(toks)).data(), 0, 'same logits');
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('loadHFModel fetches from a URL', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'attnlab-hf-'));
  const server = createServer((req, res) => {
    readFile(join(dir, (req.url ?? '/').replace(/^\/ckpt\//, ''))).then(
      (b) => res.end(b),
      () => {
        res.statusCode = 404;
        res.end();
      },
    );
  });
  try {
    const src = await writeHFCheckpoint(dir);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const model = await loadHFModel(`http://127.0.0.1:${port}/ckpt`);
    const toks = randomTokens(new Rng(SEED + 1), 1, 6, 23);
    assertClose(await (await model.forward(toks)).data(), await (await src.forward(toks)).data(), 0, 'same logits');
    await assert.rejects(loadHFModel(`http://127.0.0.1:${port}/missing`), /fetching http:\/\/127\.0\.0\.1:\d+\/missing\/config\.json failed: HTTP 404/);
  } finally {
    server.close();
    await rm(dir, { recursive: true });
  }
});

test('saveModel -> loadHFModel round trip keeps RoPE/RMSNorm/attn-only/untied/linear-attention choices', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'attnlab-hf-'));
  try {
    const src = randomModel({ vocabSize: 9, dModel: 8, nLayers: 2, nHeads: 2, attnOnly: true, positional: 'rotary', norm: 'rmsnorm', tiedEmbeddings: false, nCtx: 12 }, SEED);
    src.setAttention('all', 'linear');
    await saveModel(src, dir, { 'metrics.json': { ok: true } });
    const back = await loadHFModel(dir);
    assert.deepEqual(back.config, src.config);
    assert.equal(back.getAttentionChoice(1, 1).name, 'linear');
    const toks = randomTokens(new Rng(SEED), 2, 7, 9);
    assertClose(await (await back.forward(toks)).data(), await (await src.forward(toks)).data(), 0, 'round trip');
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8')), { ok: true });
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('loader errors: wrong model type, missing files, wrong shapes, missing tensors', async () => {
  assert.throws(() => configFromHF({ model_type: 'llama', vocab_size: 1, n_embd: 1, n_layer: 1, n_head: 1 }), /model_type 'llama'; only 'gpt2'/);
  assert.throws(() => configFromHF({ vocab_size: 1, n_layer: 1, n_head: 1 } as never), /lacks a numeric 'n_embd'/);
  await assert.rejects(loadHFModel('/nonexistent/attnlab'), /cannot read \/nonexistent\/attnlab\/config\.json/);
  const dir = await mkdtemp(join(tmpdir(), 'attnlab-hf-'));
  try {
    await writeHFCheckpoint(dir);
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, n_embd: 8 }));
    await assert.rejects(loadHFModel(dir), /config\.json: n_embd is 8 but model\.safetensors has width 16 \(wte\.weight \[23, 16\]\)/);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, n_layer: 3 }));
    await assert.rejects(loadHFModel(dir), /config\.json: n_layer is 3 but model\.safetensors holds 2 blocks \(h\.0 \.\.\. h\.1\)/);
  } finally {
    await rm(dir, { recursive: true });
  }
});
