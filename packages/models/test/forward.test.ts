import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, cpuDevice, tensor } from '@attnlab/tensor';
import { ModelError, Transformer, type ModelConfigInput } from '../src/index.js';
import { referenceForward } from './reference.js';
import { SEED, assertClose, randomModel, randomTokens, webgpuOrNull } from './helpers.js';

const CONFIGS: [string, ModelConfigInput][] = [
  ['learned+layernorm+gelu mlp, tied', { vocabSize: 11, dModel: 12, nLayers: 2, nHeads: 3, nCtx: 16 }],
  ['rotary+rmsnorm, attn-only, untied', { vocabSize: 13, dModel: 8, nLayers: 2, nHeads: 2, attnOnly: true, positional: 'rotary', norm: 'rmsnorm', tiedEmbeddings: false, nCtx: 16 }],
  ['relu mlp, dHead != dModel/nHeads, odd widths', { vocabSize: 7, dModel: 10, nLayers: 1, nHeads: 3, dHead: 6, dMlp: 9, act: 'relu', nCtx: 16 }],
  ['no positions, no norm', { vocabSize: 5, dModel: 6, nLayers: 3, nHeads: 1, positional: 'none', norm: 'none', nCtx: 16 }],
];

for (const [label, cfg] of CONFIGS) {
  test(`forward equals the float64 reference: ${label}`, async () => {
    const rng = new Rng(SEED + label.length);
    const model = randomModel(cfg, SEED);
    const state = await model.stateDict();
    for (const [B, N] of [[1, 1], [2, 7], [1, 13]] as const) {
      const toks = randomTokens(rng, B, N, model.config.vocabSize);
      const logits = await model.forward(toks);
      assert.deepEqual(logits.shape, [B, N, model.config.vocabSize]);
      assertClose(await logits.data(), referenceForward(model.config, state, toks), 1e-4, `${label} B=${B} N=${N}`);
    }
  });
}

test('forward on WebGPU matches the CPU', async (t) => {
  const { device, why } = await webgpuOrNull();
  if (!device) {
    t.skip(`no WebGPU device: ${why}`);
    return;
  }
  const cfg: ModelConfigInput = { vocabSize: 17, dModel: 16, nLayers: 2, nHeads: 4, nCtx: 32, positional: 'rotary' };
  const cpu = randomModel(cfg, SEED, cpuDevice());
  const gpu = randomModel(cfg, SEED, device);
  const toks = randomTokens(new Rng(SEED), 2, 9, 17);
  assertClose(await (await gpu.forward(toks)).data(), await (await cpu.forward(toks)).data(), 1e-3, 'webgpu vs cpu');
});

test('KV cache: incremental decoding equals the full forward, and generate agrees with and without the cache', async () => {
  for (const positional of ['learned', 'rotary'] as const) {
    const model = randomModel({ vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 32, positional }, SEED);
    const toks = randomTokens(new Rng(SEED + 1), 2, 9, 19);
    const full = await (await model.forward(toks)).data();
    const kv = model.createKVCache({ batch: 2 });
    const first = await model.forward(toks.map((r) => r.slice(0, 5)), { kvCache: kv });
    assert.equal(kv.length, 5);
    assertClose(await first.data(), Array.from({ length: 2 * 5 * 19 }, (_, i) => full[Math.floor(i / (5 * 19)) * 9 * 19 + (i % (5 * 19))]!), 1e-5, `${positional} prefill`);
    for (let p = 5; p < 9; p++) {
      const step = await (await model.forward(toks.map((r) => [r[p]!]), { kvCache: kv })).data();
      const want = [0, 1].flatMap((b) => Array.from(full.subarray((b * 9 + p) * 19, (b * 9 + p + 1) * 19)));
      assertClose(step, want, 1e-5, `${positional} decode position ${p}`);
    }
    kv.dispose();
    const a = await (await model.generate(toks.map((r) => r.slice(0, 4)), { maxNewTokens: 6 })).array();
    const b = await (await model.generate(toks.map((r) => r.slice(0, 4)), { maxNewTokens: 6, useCache: false })).array();
    assert.deepEqual(a, b);
    const s1 = await (await model.generate([1, 2, 3], { maxNewTokens: 8, temperature: 1.5, topK: 4, seed: 3 })).array();
    const s2 = await (await model.generate([1, 2, 3], { maxNewTokens: 8, temperature: 1.5, topK: 4, seed: 3 })).array();
    assert.deepEqual(s1, s2, 'sampling is deterministic for a seed');
    assert.equal((s1 as number[][])[0]!.length, 11);
  }
});

test('errors name the problem', async () => {
  const model = new Transformer({ vocabSize: 5, dModel: 4, nLayers: 1, nHeads: 2, nCtx: 4 });
  await assert.rejects(model.forward([[0, 1, 2, 3, 4]]), (e: Error) => e instanceof ModelError && /exceeds the context of 4/.test(e.message));
  await assert.rejects(model.forward(tensor([0.5, 1], [1, 2])), /tokens must be int32/);
  assert.throws(() => new Transformer({ vocabSize: 5, dModel: 6, nLayers: 1, nHeads: 2, dHead: 3, positional: 'rotary' }), /even dHead/);
  assert.throws(() => model.setAttention('all', 'no-such-variant'), /no attention variant 'no-such-variant'/);
});
