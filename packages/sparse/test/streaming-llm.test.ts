import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KVCache, getKVPolicy, hasAttention, listKVPolicies, registerKVPolicy, type MaskMod } from '@attnlab/attention';
import { Transformer } from '@attnlab/models';
import { Rng, tensor, type Device } from '@attnlab/tensor';
import { duoPolicy, heldPositions, sinkTokenTask, naiveStreamingAttention, recomputeNLL, ropeRow, sinksWindow, sinksWindowFactory, streamingGenerate, streamingMask, streamingNLL } from '../src/streaming-llm/index.js';
import { maxAbsDiff } from '../src/flash-attention/naive.js';
import { gaussian, rng } from '../src/common/random.js';
import { attnlabPlugin, registerVariants } from '../src/index.js';
import { devices } from './util.js';

/** Decode T tokens one by one through a sinks + window cache on one head; outputs [T, D]. */
async function decode(dev: Device, q: Float32Array, k: Float32Array, v: Float32Array, T: number, D: number, S: number, W: number, positions: 'absolute' | 'cache', base: number): Promise<Float32Array> {
  const cache = new KVCache({ B: 1, H: 1, D, policy: sinksWindow({ sinks: S, window: W }), positions });
  // 'absolute': the caller rotates at original positions (as the model does); 'cache': the cache rotates at its indices.
  const rot = (a: Float32Array, t: number): Float32Array => (positions === 'absolute' ? Float32Array.from(ropeRow(a.subarray(t * D, (t + 1) * D), t, base)) : a.slice(t * D, (t + 1) * D));
  const out = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    const one = (a: Float32Array): ReturnType<typeof tensor> => tensor(a, [1, 1, 1, D], { device: dev });
    await cache.append(one(rot(k, t)), one(v.slice(t * D, (t + 1) * D)));
    const r = await cache.attend(one(rot(q, t)), positions === 'cache' ? { rotary: { base } } : {});
    out.set((await r.out.data()) as Float32Array, t * D);
    assert.deepEqual([...cache.positions(0)], heldPositions(t, S, W), `held tokens at t=${t}`);
  }
  cache.dispose();
  return out;
}

test('streaming-llm: decode through sinksWindow with RoPE positions absolute and cache matches the float64 reference on CPU and WebGPU (edge sizes)', async () => {
  const cases: [number, number, number, number][] = [
    // [T, D, S, W]
    [1, 2, 1, 1],
    [9, 2, 0, 1],
    [17, 6, 1, 4],
    [33, 16, 4, 7],
    [40, 32, 2, 31],
  ];
  for (const dev of await devices()) {
    for (const [ci, [T, D, S, W]] of cases.entries()) {
      const r = rng(40 + ci);
      const [q, k, v] = [gaussian(r, T * D), gaussian(r, T * D), gaussian(r, T * D)];
      for (const positions of ['absolute', 'cache'] as const) {
        const got = await decode(dev, q, k, v, T, D, S, W, positions, 10000);
        const want = naiveStreamingAttention(q, k, v, { T, D, sinks: S, window: W, positions, base: 10000 });
        const err = maxAbsDiff(got, want);
        assert.ok(err <= 1e-5, `${dev.kind} T=${T} D=${D} S=${S} W=${W} ${positions}: max |Δ| = ${err}`);
      }
      // The two modes differ once sinks sit far from the query (the re-indexing is real).
      if (S > 0 && T > S + W + 2) {
        const a = naiveStreamingAttention(q, k, v, { T, D, sinks: S, window: W, positions: 'absolute', base: 100 });
        const c = naiveStreamingAttention(q, k, v, { T, D, sinks: S, window: W, positions: 'cache', base: 100 });
        assert.ok(maxAbsDiff(a, c) > 1e-3, `T=${T}: cache positions change the result`);
      }
    }
  }
});

test('streaming-llm: the policy, its mask and the registry agree; bad arguments are named', () => {
  const p = sinksWindow({ sinks: 2, window: 3 });
  const m: MaskMod = streamingMask(2, 3);
  const f = m.evaluator(1, 1);
  for (let q = 0; q < 12; q++) for (let k = 0; k < 14; k++) assert.equal(p.visible!(k, q), f(0, 0, q, k), `q=${q} k=${k}`);
  assert.equal(p.name, 'sinks-window(2, 3)');
  assert.equal(streamingMask(0, 3).name, 'slidingWindow(3)');
  assert.throws(() => sinksWindow({ sinks: -1, window: 2 }), /sinksWindow: needs integer sinks >= 0 and window >= 1/);
  assert.throws(() => sinksWindow({ sinks: 1, window: 0 }), /window >= 1/);
  assert.throws(() => streamingMask(1.5, 4), /streamingMask: needs integer sinks/);
  const duo = duoPolicy([[1], []], { sinks: 1, window: 2 });
  assert.equal(duo(0, 1).name, 'full');
  assert.equal(duo(0, 0).name, 'sinks-window(1, 2)');
  assert.equal(duo(1, 1).name, 'sinks-window(1, 2)');
  // 'sinks-window' is registered by this package (the plugin and registerVariants), not by @attnlab/attention.
  assert.equal(listKVPolicies().includes('sinks-window'), false);
  const reg = registerVariants();
  assert.equal(getKVPolicy('sinks-window', { sinks: 1, window: 2 }).name, 'sinks-window(1, 2)');
  assert.ok(hasAttention('act'));
  reg.dispose();
  assert.equal(listKVPolicies().includes('sinks-window'), false);
  assert.equal(hasAttention('act'), false);
  const undo: { dispose(): void }[] = [];
  attnlabPlugin.activate({
    registerAttention: () => undefined,
    registerKVPolicy: (name: string, factory: typeof sinksWindowFactory) => undo.push(registerKVPolicy(name, factory)),
  });
  assert.equal(getKVPolicy('sinks-window', { window: 4 }).name, 'sinks-window(0, 4)');
  undo.forEach((d) => d.dispose());
});

// Weights large enough that attention is far from uniform (RoPE positions then matter).
const CFG = { vocabSize: 13, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 64, positional: 'rotary' as const, initStd: 0.3 };

async function fullNLL(model: Transformer, toks: number[]): Promise<Float64Array> {
  const logits = (await (await model.forward([toks])).data()) as Float32Array;
  const V = CFG.vocabSize;
  return Float64Array.from({ length: toks.length - 1 }, (_, i) => {
    const row = Array.from(logits.subarray(i * V, (i + 1) * V), Number);
    const m = Math.max(...row);
    return m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0)) - row[toks[i + 1]!]!;
  });
}

test('streaming-llm: streamingNLL through the model equals the masked full forward (absolute), the unmasked one without eviction, and recompute equals fresh forwards', async () => {
  const toks = Array.from({ length: 45 }, (_, i) => (i * 5 + (i >> 2)) % 13);
  for (const dev of await devices()) {
    const model = new Transformer(CFG, { seed: 5, device: dev });
    const full = await fullNLL(model, toks);
    for (const positions of ['absolute', 'cache'] as const) {
      const wide = await streamingNLL(model, toks, { sinks: 2, window: 60, positions });
      assert.ok(maxAbsDiff(wide, full) <= 1e-4, `${dev.kind} ${positions}: nothing evicted = full forward (${maxAbsDiff(wide, full)})`);
    }
    const S = 2;
    const W = 7;
    const streamed = await streamingNLL(model, toks, { sinks: S, window: W, positions: 'absolute' });
    model.setAttention('all', 'softmax', { mask: streamingMask(S, W) });
    const masked = await fullNLL(model, toks);
    model.setAttention('all', 'softmax');
    assert.ok(maxAbsDiff(streamed, masked) <= 1e-4, `${dev.kind}: absolute positions = masked forward (${maxAbsDiff(streamed, masked)})`);
    const cached = await streamingNLL(model, toks, { sinks: S, window: W, positions: 'cache' });
    assert.ok(maxAbsDiff(cached, masked) > 1e-4, `${dev.kind}: cache positions re-index the sinks`);
    // Recompute: each prediction from a fresh forward over its W preceding tokens.
    const at = [1, 3, 8, 20, 44];
    const rec = await recomputeNLL(model, toks, { window: W, at, batch: 2 });
    for (const [r, i] of at.entries()) {
      const ctx = toks.slice(Math.max(0, i - W), i + 1);
      const want = (await fullNLL(model, ctx)).at(-1)!;
      assert.ok(Math.abs(rec[r]! - want) <= 1e-4, `${dev.kind}: recompute at ${i}`);
    }
    // With a prefix (a sink token) the context is prefix + the W - 1 tokens before i.
    const recP = await recomputeNLL(model, toks, { window: W, at, prefix: [12] });
    for (const [r, i] of at.entries()) {
      const ctx = [12, ...toks.slice(Math.max(0, i - W + 1), i + 1)];
      const want = (await fullNLL(model, ctx)).at(-1)!;
      assert.ok(Math.abs(recP[r]! - want) <= 1e-4, `${dev.kind}: recompute with a prefix at ${i}`);
    }
    const gen = await streamingGenerate(model, toks.slice(0, 5), { sinks: 1, window: 4, maxNewTokens: 20 });
    assert.equal(gen.length, 25);
    assert.deepEqual(gen.slice(0, 5), toks.slice(0, 5));
  }
  const model = new Transformer(CFG, { seed: 5 });
  await assert.rejects(streamingNLL(model, [1], { sinks: 1, window: 2 }), /streamingNLL: needs at least 2 tokens/);
  await assert.rejects(streamingNLL(model, [1, 99], { sinks: 1, window: 2 }), /token 99 at 1 is outside the vocabulary of 13/);
  await assert.rejects(recomputeNLL(model, [1, 2, 3], { window: 2, at: [3] }), /index 3 must be in \[1, 2\]/);
  await assert.rejects(recomputeNLL(model, [1, 2, 3], { window: 1, prefix: [4] }), /window 1 leaves no room after a prefix of 1/);
});

test('streaming-llm: sinkTokenTask puts the dedicated token first and shifts the targets; plain windows without it', () => {
  const ids = Int32Array.from({ length: 50 }, (_, i) => i % 10);
  const withSink = sinkTokenTask(ids, { seqLen: 8, vocabSize: 11, sinkId: 10 });
  const plain = sinkTokenTask(ids, { seqLen: 8, vocabSize: 11, sinkId: null });
  const b = withSink.sample(new Rng(3), 4);
  const p = plain.sample(new Rng(3), 4);
  for (let r = 0; r < 4; r++) {
    const t = [...b.tokens.subarray(r * 8, r * 8 + 8)];
    const y = [...b.targets.subarray(r * 8, r * 8 + 8)];
    assert.equal(t[0], 10);
    assert.deepEqual(y.slice(0, 7), t.slice(1), 'each target is the next token');
    assert.equal(y[7], (t[7]! + 1) % 10);
    const pt = [...p.tokens.subarray(r * 8, r * 8 + 8)];
    const py = [...p.targets.subarray(r * 8, r * 8 + 8)];
    assert.ok(!pt.includes(10));
    assert.deepEqual(py, pt.map((x) => (x + 1) % 10));
  }
  assert.throws(() => sinkTokenTask(ids, { seqLen: 8, vocabSize: 10, sinkId: 10 }), /sinkId 10 is outside the vocabulary of 10/);
  assert.throws(() => sinkTokenTask(ids.subarray(0, 8), { seqLen: 8, vocabSize: 11, sinkId: null }), /the stream has 8 tokens; windows need more than 9/);
});
