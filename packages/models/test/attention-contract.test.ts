import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@attnlab/tensor';
import {
  KVCache, and, causal, getAttention, scoreMod, listAttention, registerAttention, slidingWindow, sinks, or, unregisterAttention,
  type AttentionContext,
} from '@attnlab/attention';
import { ModelError, type ModelConfigInput } from '../src/index.js';
import { SEED, randomModel, randomTokens, webgpuOrNull } from './helpers.js';
import { gpt2Ref64, maxDiff } from './gpt2-ref64.js';

const CFG: ModelConfigInput = { vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 4, nCtx: 32 };

test('setAttention mask: and(causal(), slidingWindow(w)) set per head changes the logits exactly as a float64 reference says', async () => {
  const model = randomModel(CFG, SEED);
  const toks = randomTokens(new Rng(SEED + 1), 2, 13, 19);
  const base = await (await model.forward(toks)).data();
  // The reproduction: every head, one window.
  model.setAttention('all', 'softmax', { mask: and(causal(), slidingWindow(8)) });
  const state = await model.stateDict();
  const all8 = gpt2Ref64(model.config, state, toks, { visible: (_l, _h, i, j) => i - j < 8 });
  const got8 = await (await model.forward(toks)).data();
  assert.ok(maxDiff(got8, base) > 1e-3, 'the mask changes the logits');
  assert.ok(maxDiff(got8, all8.logits) < 1e-4, `window 8 vs float64: ${maxDiff(got8, all8.logits)}`);
  // Per head: layer 0 heads 1 and 3 see 3 keys, layer 1 head 2 sinks(1) + window 4; the rest stay full.
  model.setAttention('all', 'softmax');
  model.setAttention({ layer: 0, heads: [1, 3] }, 'softmax', { mask: slidingWindow(3) });
  model.setAttention({ layer: 1, head: 2 }, 'softmax', { mask: or(sinks(1), slidingWindow(4)) });
  const vis = (l: number, h: number, i: number, j: number): boolean =>
    l === 0 && (h === 1 || h === 3) ? i - j < 3 : l === 1 && h === 2 ? j < 1 || i - j < 4 : true;
  const ref = gpt2Ref64(model.config, state, toks, { visible: vis });
  const { logits, cache } = await model.runWithCache(toks, { names: /hook_pattern$/ });
  assert.ok(maxDiff(await logits.data(), ref.logits) < 1e-4, `per-head windows vs float64: ${maxDiff(await logits.data(), ref.logits)}`);
  for (const l of [0, 1]) {
    const name = `blocks.${l}.attn.hook_pattern`;
    assert.ok(maxDiff(await cache[name]!.data(), ref.acts.get(name)!.data) < 1e-5, `${name} per head`);
  }
});

test('a scoreMod (ALiBi) set through the model reaches the variant: logits and scores match float64', async () => {
  const model = randomModel(CFG, SEED);
  const toks = randomTokens(new Rng(SEED + 7), 2, 8, 19);
  const slopes = [0.5, 0.25];
  model.setAttention({ layer: 1, heads: [1, 3] }, 'softmax', { scoreMod: scoreMod((s, _b, h, q, k) => s - slopes[h]! * (q - k), { captures: { slopes } }) });
  const ref = gpt2Ref64(model.config, await model.stateDict(), toks, { score: (l, h, s, i, j) => (l === 1 && (h === 1 || h === 3) ? s - slopes[h === 1 ? 0 : 1]! * (i - j) : s) });
  const { logits, cache } = await model.runWithCache(toks, { names: /blocks\.1\.attn\.hook_(attn_scores|pattern)$/ });
  assert.ok(maxDiff(await logits.data(), ref.logits) < 1e-4, `logits ${maxDiff(await logits.data(), ref.logits)}`);
  for (const n of ['blocks.1.attn.hook_attn_scores', 'blocks.1.attn.hook_pattern']) assert.ok(maxDiff(await cache[n]!.data(), ref.acts.get(n)!.data) < 1e-5, n);
});

test("'sigmoid' through the model: hook_pattern and hook_attn_scores are cached and match float64", async () => {
  const model = randomModel(CFG, SEED);
  const toks = randomTokens(new Rng(SEED + 2), 2, 7, 19);
  model.setAttention(1, 'sigmoid');
  const ref = gpt2Ref64(model.config, await model.stateDict(), toks, { weights: (l) => (l === 1 ? 'sigmoid' : 'softmax') });
  const { logits, cache } = await model.runWithCache(toks);
  assert.ok(maxDiff(await logits.data(), ref.logits) < 1e-4);
  for (const n of ['blocks.1.attn.hook_pattern', 'blocks.1.attn.hook_attn_scores']) {
    assert.ok(cache[n], `${n} is cached`);
    assert.ok(maxDiff(await cache[n]!.data(), ref.acts.get(n)!.data) < 1e-5, n);
  }
  assert.deepEqual(cache.unavailable(), {});
});

test('a registered variant gets scale, the effective mask, layer, its own heads and positions; re-registering replaces', async () => {
  const model = randomModel(CFG, SEED);
  const toks = randomTokens(new Rng(SEED + 3), 1, 6, 19);
  const seen: AttentionContext[] = [];
  const shapes: number[][] = [];
  const spy = registerAttention('spy-softmax', {
    forward: (q, k, v, ctx) => {
      seen.push(ctx);
      shapes.push([...q.shape]);
      return getAttention('softmax').forward(q, k, v, ctx);
    },
  });
  try {
    const base = await (await model.forward(toks)).data();
    model.setAttention({ layer: 1, heads: [0, 2] }, 'spy-softmax', { mask: slidingWindow(2) });
    await model.forward(toks);
    assert.equal(seen.length, 1, 'the variant ran once, on its slice');
    const ctx = seen[0]!;
    assert.deepEqual(shapes[0], [1, 2, 6, 4], 'q holds only heads 0 and 2');
    assert.equal(ctx.scale, 1 / Math.sqrt(4));
    assert.equal(ctx.layer, 1);
    assert.deepEqual(ctx.heads, [0, 2]);
    assert.equal(ctx.causal, true);
    assert.deepEqual([...ctx.qPositions!], [0, 1, 2, 3, 4, 5]);
    const f = (ctx.mask as ReturnType<typeof causal>).evaluator(6, 6);
    assert.equal(f(0, 0, 3, 4), false, 'the effective mask is causal');
    assert.equal(f(0, 0, 3, 1), false, 'and the user window');
    assert.equal(f(0, 0, 3, 2), true);
    // Re-running the registering cell replaces the variant without an error.
    registerAttention('spy-softmax', { forward: (q, k, v, c) => getAttention('softmax').forward(q, k, v, { ...c, mask: causal() }) });
    model.setAttention({ layer: 1, heads: [0, 2] }, 'spy-softmax');
    assert.ok(maxDiff(await (await model.forward(toks)).data(), base) < 1e-6, 'the replacement runs');
    assert.ok(listAttention().includes('spy-softmax'));
  } finally {
    spy.dispose(); // no-op: the re-registration replaced it
    assert.equal(unregisterAttention('spy-softmax'), true);
  }
  // Unknown names: every registered name is listed, including those of other registrations.
  assert.throws(() => model.setAttention(0, 'nope'), (e: Error) => e instanceof ModelError && /have: softmax, sigmoid, linear, linear-elu1-normalized, linear-elu1/.test(e.message));
  assert.throws(() => model.setAttention(0, 'softmax', { windw: 3 }), /variant 'softmax' takes no option 'windw'/);
  assert.throws(() => model.setAttention({ layer: 0, heads: [7] }, 'softmax'), /head 7 is out of range/);
});

test('each variant runs only on its own heads: mixed layers equal per-variant runs head by head', async () => {
  const model = randomModel(CFG, SEED);
  const toks = randomTokens(new Rng(SEED + 4), 2, 6, 19);
  const zOf = async (): Promise<Float32Array> => (await (await model.runWithCache(toks, { names: 'blocks.0.attn.hook_z' })).cache['blocks.0.attn.hook_z']!.data()) as Float32Array;
  const calls: number[] = [];
  const counter = registerAttention('count-linear', { forward: (q, k, v, ctx) => { calls.push(q.shape[1]!); return getAttention('linear-elu1-normalized').forward(q, k, v, ctx); } });
  try {
    const soft = await zOf();
    model.setAttention(0, 'count-linear');
    const lin = await zOf();
    model.setAttention({ layer: 0, heads: [1, 3] }, 'softmax');
    calls.length = 0;
    const mixed = await zOf();
    assert.deepEqual(calls, [2], 'the linear variant saw two heads, once');
    for (let i = 0; i < mixed.length; i++) {
      const h = Math.floor(i / 4) % 4;
      assert.ok(Math.abs(mixed[i]! - (h === 1 || h === 3 ? soft[i]! : lin[i]!)) < 1e-6, `head ${h}`);
    }
  } finally {
    counter.dispose();
  }
});

test('every variant is inspectable: linear parallel-form weights reproduce z; a variant without weights is listed by name', async () => {
  const model = randomModel(CFG, SEED);
  const toks = randomTokens(new Rng(SEED + 5), 1, 7, 19);
  model.setAttention({ layer: 0, heads: [0, 1] }, 'linear', { featureMap: 'elu1', decay: [0.9, 0.8, 1, 1] });
  model.setAttention({ layer: 0, heads: [2, 3] }, 'linear-elu1-normalized');
  const { cache } = await model.runWithCache(toks, { names: ['blocks.0.attn.hook_pattern', 'blocks.0.attn.hook_v', 'blocks.0.attn.hook_z'] });
  const P = (await cache['blocks.0.attn.hook_pattern']!.array()) as number[][][][];
  const v = (await cache['blocks.0.attn.hook_v']!.array()) as number[][][][]; // [B, N, H, Dh]
  const z = (await cache['blocks.0.attn.hook_z']!.array()) as number[][][][];
  for (let h = 0; h < 4; h++) for (let i = 0; i < 7; i++) for (let d = 0; d < 4; d++) {
    let s = 0;
    for (let j = 0; j < 7; j++) s += P[0]![h]![i]![j]! * v[0]![j]![h]![d]!;
    assert.ok(Math.abs(s - z[0]![i]![h]![d]!) < 1e-4, `z = pattern @ v at head ${h} row ${i}`);
  }
  // A plugin variant that returns no weights: the pattern is listed as unavailable, with the variant's name.
  const bare = registerAttention('no-weights', { forward: async (q, k, v, ctx) => ({ out: (await getAttention('softmax').forward(q, k, v, { ...ctx, returnProbs: false })).out }) });
  try {
    model.setAttention(1, 'no-weights');
    const r = await model.runWithCache(toks);
    assert.equal(r.cache['blocks.1.attn.hook_pattern'], undefined);
    assert.match(r.cache.unavailable()['blocks.1.attn.hook_pattern']!, /variant 'no-weights' \(heads 0, 1, 2, 3\) gives no weights/);
    assert.ok(r.cache['blocks.0.attn.hook_pattern'], 'other layers still have theirs');
    const listing = (r.cache as unknown as Record<symbol, () => Record<string, string>>)[Symbol.for('Jupyter.display')]!()['text/plain']!;
    assert.match(listing, /blocks\.1\.attn\.hook_pattern: unavailable \(variant 'no-weights'/);
    assert.match(listing, /blocks\.0\.attn\.hook_pattern \[1, 4, 7, 7\]/);
  } finally {
    bare.dispose();
  }
});

test("generate takes attention's KVCache; unknown options are errors naming them", async () => {
  const model = randomModel({ ...CFG, positional: 'rotary' }, SEED);
  const prompt = [[1, 2, 3], [4, 5, 6]];
  const plain = await (await model.generate(prompt, { maxNewTokens: 5, useCache: false })).array();
  const cache = new KVCache({ B: 2, H: 4, D: 4, layers: 2 });
  assert.deepEqual(await (await model.generate(prompt, { maxNewTokens: 5, kvCache: cache })).array(), plain);
  assert.equal(cache.length, 7, 'the prompt and four decoded tokens went through it (the fifth is sampled, not fed)');
  await assert.rejects(model.generate(prompt, { maxNewTokens: 2, kvCache: new KVCache({ B: 2, H: 4, D: 4 }) }), /kvCache has layers = 1, this run needs 2/);
  await assert.rejects(model.generate(prompt, { maxNewTokens: 2, kvCach: cache } as never), /unknown option 'kvCach'/);
  await assert.rejects(model.forward(prompt, { kvcache: cache } as never), /unknown option 'kvcache'/);
  // Head perturbations act while decoding through the cache too (the dense path over the held tokens).
  model.heads.set({ layer: 0, head: 1 }, { perturb: { mode: 'uniform', strength: 0.7 } });
  const perturbed = await (await model.generate(prompt, { maxNewTokens: 5, useCache: false })).array();
  assert.notDeepEqual(perturbed, plain);
  assert.deepEqual(await (await model.generate(prompt, { maxNewTokens: 5 })).array(), perturbed);
  await assert.rejects(model.generate(prompt, { maxNewTokens: 8, cachePolicy: { sinks: 1, window: 2 } }), /pattern perturbation on layer 0 needs every token/);
  model.heads.reset();
  // A variant that does not read the cache decodes from the gathered keys while nothing is evicted.
  model.setAttention(1, 'linear-elu1-normalized');
  const lin = await (await model.generate(prompt, { maxNewTokens: 4, useCache: false })).array();
  assert.deepEqual(await (await model.generate(prompt, { maxNewTokens: 4 })).array(), lin);
  await assert.rejects(model.generate(prompt, { maxNewTokens: 8, cachePolicy: { sinks: 1, window: 2 } }), /'linear-elu1-normalized' \(layer 1\) does not read the KV cache/);
});

test('WebGPU: per-head masks and a sigmoid layer through the model match float64, patterns included', async () => {
  const { device, why } = await webgpuOrNull();
  assert.ok(device, `a WebGPU adapter is required (SwiftShader works): ${why}`);
  const model = randomModel(CFG, SEED, device);
  const toks = randomTokens(new Rng(SEED + 6), 2, 9, 19);
  model.setAttention({ layer: 0, heads: [0, 3] }, 'softmax', { mask: slidingWindow(2) });
  model.setAttention(1, 'sigmoid');
  const ref = gpt2Ref64(model.config, await model.stateDict(), toks, {
    visible: (l, h, i, j) => !(l === 0 && (h === 0 || h === 3)) || i - j < 2,
    weights: (l) => (l === 1 ? 'sigmoid' : 'softmax'),
  });
  const { logits, cache } = await model.runWithCache(toks, { names: /hook_pattern$/ });
  assert.equal(logits.device.kind, 'webgpu');
  assert.ok(maxDiff(await logits.data(), ref.logits) < 1e-3, `logits ${maxDiff(await logits.data(), ref.logits)}`);
  for (const n of ['blocks.0.attn.hook_pattern', 'blocks.1.attn.hook_pattern']) assert.ok(maxDiff(await cache[n]!.data(), ref.acts.get(n)!.data) < 1e-4, n);
});
