import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, tensor, type Tensor } from '@attnlab/tensor';
import { denseAttention, getAttention, registerAttention, useAttentionRegistry } from '../src/index.js';
import * as flash from '@attnlab/attention';
import { SEED, assertClose, randomModel, randomTokens } from './helpers.js';

test('by default flash serves forwards; a cached pattern comes from its lse (logits unchanged); hooked scores take the dense path', async () => {
  const original = flash.getAttention('softmax');
  let calls = 0;
  flash.registerAttention<Record<string, unknown>>('softmax', { forward: (q, k, v, o) => { calls++; return original.forward(q, k, v, o); } }, { replace: true });
  try {
    const model = randomModel({ vocabSize: 13, dModel: 16, nLayers: 2, nHeads: 4, nCtx: 16 }, SEED);
    const toks = randomTokens(new Rng(SEED), 2, 11, 13);
    const logits = await (await model.forward(toks)).data();
    assert.equal(calls, 2, 'one flash call per layer');
    // Probe path: patterns cached without gradients are recomputed from flash's lse.
    const isPattern = (n: string): boolean => n.endsWith('hook_pattern');
    const probed = await model.runWithCache(toks, { names: isPattern });
    assert.equal(calls, 4, 'caching patterns kept both layers on flash');
    assert.deepEqual(await probed.logits.data(), logits, 'caching a pattern leaves the logits bit-identical');
    // Dense path: hooking the scores (or a perturbation) materialises them; same numbers.
    const dense = await model.runWithCache(toks, { names: (n: string) => isPattern(n) || n.endsWith('hook_attn_scores') });
    assert.equal(calls, 4, 'hooked scores took the dense path');
    assertClose(logits, await dense.logits.data(), 1e-5, 'flash vs dense logits');
    for (const l of [0, 1]) {
      const name = `blocks.${l}.attn.hook_pattern`;
      assertClose(await probed.cache[name]!.data(), await dense.cache[name]!.data(), 1e-5, `${name}: lse probe vs softmax`);
    }
    // A hook that replaces the pattern (no gradients) drives z on the probe path too.
    const uniform = async (t: Tensor): Promise<Tensor> => {
      const n = t.shape[3]!;
      const causalUniform = new Float32Array(t.size);
      for (let i = 0; i < t.size; i++) {
        const row = Math.floor(i / n) % t.shape[2]!;
        const col = i % n;
        causalUniform[i] = col <= row ? 1 / (row + 1) : 0;
      }
      return tensor(causalUniform, t.shape, { device: t.device });
    };
    const replaced = await model.run(toks, { hooks: [['blocks.0.attn.hook_pattern', uniform]] });
    model.heads.set({ layer: 0, head: 0 }, { perturb: { mode: 'uniform', strength: 1 } });
    model.heads.set({ layer: 0, head: 1 }, { perturb: { mode: 'uniform', strength: 1 } });
    model.heads.set({ layer: 0, head: 2 }, { perturb: { mode: 'uniform', strength: 1 } });
    model.heads.set({ layer: 0, head: 3 }, { perturb: { mode: 'uniform', strength: 1 } });
    const viaControls = await model.forward(toks);
    model.heads.reset();
    assertClose(await replaced.data(), await viaControls.data(), 1e-5, 'replaced pattern = uniform perturbation');
  } finally {
    flash.registerAttention('softmax', original, { replace: true });
  }
});

test('useAttentionRegistry: an @attnlab/attention-shaped registry serves unhooked forwards; hooks take the dense path', async () => {
  const calls: Record<string, unknown>[] = [];
  const CAUSAL = { kind: 'causal' };
  // Same shape as @attnlab/attention: variants are { forward }, unknown names throw, masks are named objects.
  const mod = {
    causal: () => CAUSAL,
    getAttention(name: string) {
      if (name !== 'softmax') throw new Error(`unknown attention variant '${name}'`);
      return {
        forward: async (q: Tensor, k: Tensor, v: Tensor, opts?: Record<string, unknown>) => {
          calls.push(opts ?? {});
          assert.equal(opts?.['mask'], CAUSAL);
          return { out: (await denseAttention(q, k, v, { scale: opts!['scale'] as number, causal: true })).out };
        },
      };
    },
  };
  const model = randomModel({ vocabSize: 11, dModel: 8, nLayers: 2, nHeads: 2, nCtx: 8 }, SEED);
  const toks = randomTokens(new Rng(SEED), 2, 5, 11);
  const before = await (await model.forward(toks)).data();
  const undo = useAttentionRegistry(mod);
  try {
    assertClose(await (await model.forward(toks)).data(), before, 1e-6, 'external softmax');
    assert.equal(calls.length, 2, 'one call per layer');
    assert.equal(calls[0]!['scale'], 1 / Math.sqrt(4));
    calls.length = 0;
    await model.runWithCache(toks, { names: 'blocks.1.attn.hook_attn_scores' });
    assert.equal(calls.length, 1, 'the layer with hooked scores used the dense path, the other the registry');
    // Names the external registry lacks fall back to the local ones.
    model.setAttention(0, 'linear');
    await model.forward(toks);
    assert.ok(getAttention('linear'));
  } finally {
    undo();
  }
  calls.length = 0;
  model.setAttention('all', 'softmax');
  await model.forward(toks);
  assert.equal(calls.length, 0, 'undone');
});

test('registerAttention: a plugin variant runs per head with its options', async () => {
  registerAttention('scaled-softmax-test', async (q, k, v, o) => denseAttention(q, k, v, { scale: o.scale * (o['factor'] as number), causal: o.causal }));
  const model = randomModel({ vocabSize: 11, dModel: 8, nLayers: 1, nHeads: 2, nCtx: 8 }, SEED);
  const toks = randomTokens(new Rng(SEED), 1, 6, 11);
  const base = await (await model.forward(toks)).data();
  model.setAttention({ head: 1 }, 'scaled-softmax-test', { factor: 1 });
  assertClose(await (await model.forward(toks)).data(), base, 1e-6, 'factor 1 = softmax');
  model.setAttention({ head: 1 }, 'scaled-softmax-test', { factor: 3 });
  const { cache } = await model.runWithCache(toks, { names: 'blocks.0.attn.hook_z' });
  const z = await cache['blocks.0.attn.hook_z']!.data();
  model.setAttention('all', 'softmax');
  for (let h = 0; h < 2; h++) model.heads.set({ layer: 0, head: h }, { perturb: { mode: 'temperature', strength: h === 1 ? 1 / 3 : 1 } });
  const want = await (await model.runWithCache(toks, { names: 'blocks.0.attn.hook_z' })).cache['blocks.0.attn.hook_z']!.data();
  assertClose(z, want, 1e-5, 'plugin variant on head 1 = temperature 1/3 on head 1');
  assert.throws(() => registerAttention('bad', 3 as never), /must be a function/);
});
