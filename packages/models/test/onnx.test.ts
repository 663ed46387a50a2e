import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-web';
import { Rng } from '@attnlab/tensor';
import { exportOnnx, type ModelConfigInput } from '../src/index.js';
import { SEED, maxAbsDiff, randomModel, randomTokens } from './helpers.js';

ort.env.wasm.numThreads = 1;

const CASES: [string, ModelConfigInput, ((m: ReturnType<typeof randomModel>) => void)?][] = [
  ['learned + layernorm + gelu, tied', { vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 4, nCtx: 16 }],
  ['rotary + rmsnorm, attn-only, untied, gated heads', { vocabSize: 11, dModel: 12, nLayers: 2, nHeads: 3, attnOnly: true, positional: 'rotary', norm: 'rmsnorm', tiedEmbeddings: false, nCtx: 16 },
    (m) => {
      m.heads.set({ layer: 0, head: 1 }, { ablate: 'zero' });
      m.heads.set({ layer: 1, head: 2 }, { gate: 0.3 });
    }],
  ['linear attention layer, relu mlp', { vocabSize: 9, dModel: 8, nLayers: 2, nHeads: 2, act: 'relu', nCtx: 16 }, (m) => m.setAttention(1, 'linear-elu1-normalized')],
];

for (const [label, cfg, setup] of CASES) {
  test(`ONNX export runs in onnxruntime-web (wasm) with logits within 1e-4: ${label}`, async () => {
    const model = randomModel(cfg, SEED);
    setup?.(model);
    const N = 7;
    const bytes = await exportOnnx(model, { seqLen: N });
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    const toks = randomTokens(new Rng(SEED), 3, N, model.config.vocabSize);
    const out = await session.run({ tokens: new ort.Tensor('int32', Int32Array.from(toks.flat()), [3, N]) });
    const got = out['logits']!;
    assert.deepEqual(got.dims, [3, N, model.config.vocabSize]);
    const ours = await (await model.forward(toks)).data();
    const d = maxAbsDiff(got.data as Float32Array, ours);
    assert.ok(d <= 1e-4, `max abs diff ${d}`);
    // The comparison can fail: a changed weight moves the logits.
    model.heads.set({ layer: 0, head: 0 }, { gate: 0.5 });
    assert.ok(maxAbsDiff(got.data as Float32Array, await (await model.forward(toks)).data()) > 1e-4);
    await session.release();
  });
}

test('ONNX export refuses what it cannot lower', async () => {
  const model = randomModel({ vocabSize: 9, dModel: 8, nLayers: 1, nHeads: 2, nCtx: 8 }, SEED);
  await assert.rejects(exportOnnx(model, { seqLen: 9 }), /seqLen 9 exceeds the context 8/);
  model.heads.set({ layer: 0, head: 0 }, { ablate: 'mean' });
  await assert.rejects(exportOnnx(model, { seqLen: 4 }), /mean ablation or a pattern perturbation/);
  model.heads.reset();
  model.setAttention({ layer: 0, head: 1 }, 'linear-elu1-normalized');
  await assert.rejects(exportOnnx(model, { seqLen: 4 }), /mixes attention variants/);
});
