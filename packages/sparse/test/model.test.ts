import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, causal, maskMod } from '@attnlab/attention';
import { Transformer } from '@attnlab/models';
import { tensor } from '@attnlab/tensor';
import { na1d } from '../src/neighborhood/index.js';
import { s2Mask } from '../src/s2-attention/index.js';
import { maxAbsDiff } from '../src/flash-attention/naive.js';
import { registerVariants } from '../src/index.js';
import { devices } from './util.js';

const CFG = { vocabSize: 23, dModel: 32, nLayers: 2, nHeads: 4, nCtx: 32 };

test("model: 's2-attention' and 'neighborhood' set per head give the logits of the same masks through the built-in softmax", async () => {
  const reg = registerVariants();
  try {
    for (const dev of await devices()) {
      const model = new Transformer(CFG, { seed: 3, device: dev });
      const toks = tensor(Int32Array.from({ length: 2 * 21 }, (_, i) => (i * 7 + 3) % 23), [2, 21], { dtype: 'int32', device: dev });
      // The variants: layer 0 every head its S2 shard; layer 1 heads 1 and 3 NA k=5 dilation 2 (AND causal).
      model.setAttention({ layer: 0 }, 's2-attention', { heads: 4, offset: 1 });
      model.setAttention({ layer: 1, heads: [1, 3] }, 'neighborhood', { kernelSize: 5, dilation: 2 });
      const got = await (await model.forward(toks)).data();
      // The same visibility through the model's own mask mechanism.
      model.setAttention('all', 'softmax');
      const shards = [0, 1, 2, 3].map((h) => maskMod((b, hh, q, k) => (k + 1) % 4 === h, { captures: { h } }));
      for (let h = 0; h < 4; h++) model.setAttention({ layer: 0, head: h }, 'softmax', { mask: shards[h]! });
      model.setAttention({ layer: 1, heads: [1, 3] }, 'softmax', { mask: na1d({ length: 21, kernelSize: 5, dilation: 2 }) });
      const want = await (await model.forward(toks)).data();
      model.setAttention('all', 'softmax');
      const dense = await (await model.forward(toks)).data();
      assert.ok(maxAbsDiff(got, dense) > 1e-3, `${dev.kind}: the variants change the logits`);
      assert.ok(maxAbsDiff(got, want) <= 1e-4, `${dev.kind}: ${maxAbsDiff(got, want)}`);
    }
  } finally {
    reg.dispose();
  }
  // s2Mask with headIndex is what the variant builds for a head slice.
  assert.equal(s2Mask({ heads: 4, headIndex: [1, 3] }).name.startsWith('and(causal'), true);
  assert.equal(and(causal(), na1d({ length: 4, kernelSize: 3 })).kind, 'maskMod');
});
