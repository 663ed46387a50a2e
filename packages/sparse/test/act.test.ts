import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causal, getAttention, hasAttention, registerAttention } from '@attnlab/attention';
import { Transformer } from '@attnlab/models';
import { actVariant, applyACT, calibrateACT, copyQA, detectSinks, naiveActAttention, naiveDetectSinks, qaAccuracy } from '../src/act/index.js';
import { maxAbsDiff } from '../src/flash-attention/naive.js';
import { rng } from '../src/common/random.js';
import { devices, disposeAll, qkv } from './util.js';

test("act: the 'act' variant (β on sink columns, proportional redistribution) matches the float64 reference on CPU and WebGPU (shapes, per-row sinks, causal and not)", async () => {
  const reg = registerAttention('act', actVariant);
  try {
    const v = getAttention('act');
    const r = rng(3);
    const cases: [number, number, number, number, number][] = [[1, 1, 1, 1, 1], [1, 2, 5, 5, 3], [2, 3, 17, 17, 8], [1, 2, 9, 20, 16], [2, 1, 33, 33, 7]];
    for (const dev of await devices()) {
      for (const [ci, [B, H, Nq, Nk, D]] of cases.entries()) {
        const x = qkv(dev, 50 + ci, B, H, Nq, Nk, D);
        for (const isCausal of [true, false]) {
          const rows = Array.from({ length: B }, () => Array.from({ length: 1 + Math.floor(r() * 3) }, () => Math.floor(r() * Nk)));
          for (const beta of [0, 0.3, 1]) {
            const res = await v.forward(x.q, x.k, x.v, { scale: 1 / Math.sqrt(D), mask: isCausal ? causal() : null, causal: isCausal, options: { sinks: rows, beta }, returnProbs: true });
            const out = (await res.out.data()) as Float32Array;
            const probs = (await res.probs!.data()) as Float32Array;
            for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
              const at = (a: Float32Array, n: number, m: number): Float32Array => a.subarray(((b * H + h) * n) * m, ((b * H + h) * n + n) * m);
              const want = naiveActAttention(at(x.qa, Nq, D), at(x.ka, Nk, D), at(x.va, Nk, D), { Nq, Nk, D, Dv: D }, { scale: 1 / Math.sqrt(D), beta, sinks: rows[b]!, causal: isCausal });
              const tag = `${dev.kind} ${B}x${H}x${Nq}x${Nk}x${D} causal=${isCausal} beta=${beta} b=${b} h=${h}`;
              assert.ok(maxAbsDiff(at(out, Nq, D), want.out) <= 1e-5, `${tag} out ${maxAbsDiff(at(out, Nq, D), want.out)}`);
              assert.ok(maxAbsDiff(at(probs, Nq, Nk), want.probs) <= 1e-5, `${tag} probs`);
            }
            res.out.dispose();
            res.probs!.dispose();
          }
        }
        disposeAll(x);
      }
    }
    const x = qkv((await devices())[0]!, 1, 1, 1, 3, 3, 4);
    await assert.rejects(Promise.resolve().then(() => v.forward(x.q, x.k, x.v, { options: { beta: 0.5 } })), /act: option sinks .* is required/);
    await assert.rejects(Promise.resolve().then(() => v.forward(x.q, x.k, x.v, { options: { sinks: [1], beta: 2 } })), /act: beta must be in \[0, 1\], got 2/);
    await assert.rejects(Promise.resolve().then(() => v.forward(x.q, x.k, x.v, { options: { sinks: [[1], [2]], beta: 0.5 } })), /act: sinks has 2 rows, the batch 1/);
    await assert.rejects(Promise.resolve().then(() => v.forward(x.q, x.k, x.v, { options: { sinks: [-1], beta: 0.5 } })), /sink position -1 must be a non-negative integer/);
  } finally {
    reg.dispose();
  }
});

test('act: detection matches the float64 reference on the model patterns; β = 1 changes nothing; calibration selects only heads that help and restores the model', async () => {
  const cfg = { vocabSize: 17, dModel: 32, nLayers: 2, nHeads: 2, nCtx: 64, positional: 'rotary' as const, initStd: 0.3 };
  const stream = Array.from({ length: 400 }, (_, i) => (i * 7 + (i >> 3)) % 16);
  const items = copyQA(stream, { n: 6, passage: 24, cue: 3, answer: 3, sep: [16], seed: 4 });
  assert.equal(items[0]!.tokens.length, 24 + 1 + 3 + 2);
  const it = items[0]!;
  // The answer tokens continue the cue inside the passage.
  const cueStart = it.tokens.length - 5;
  const cue = it.tokens.slice(cueStart, cueStart + 3);
  const inPassage = it.tokens.slice(0, 24).findIndex((_, s) => cue.every((c, i) => it.tokens[s + i] === c) && it.answer.every((a, i) => it.tokens[s + 3 + i] === a.token));
  assert.ok(inPassage >= 0, 'answer continues the cue in the passage');
  for (const dev of await devices()) {
    const model = new Transformer(cfg, { seed: 2, device: dev });
    const sinks = await detectSinks(model, items, { alpha: 2, minQueries: 4 });
    const { logits, cache } = await model.runWithCache(items.map((i) => [...i.tokens]), { names: [/hook_pattern$/] });
    logits.dispose();
    const N = items[0]!.tokens.length;
    for (let l = 0; l < 2; l++) {
      const p = (await cache[`blocks.${l}.attn.hook_pattern`]!.data()) as Float32Array;
      for (let h = 0; h < 2; h++) for (let b = 0; b < items.length; b++) {
        assert.deepEqual(sinks[l]![h]![b], naiveDetectSinks(p.subarray(((b * 2 + h) * N) * N, ((b * 2 + h) * N + N) * N), N, { alpha: 2, from: 1, minQueries: 4 }));
      }
    }
    const base = await qaAccuracy(model, items);
    const heads = [{ layer: 0, head: 0 }, { layer: 1, head: 1 }];
    assert.equal(await qaAccuracy(model, items, { heads, sinks, beta: 1 }), base, `${dev.kind}: β = 1 is the identity`);
    assert.equal(model.getAttentionChoice(0, 0).name, 'softmax', 'restored after the call');
    assert.equal(hasAttention('act'), false, 'the temporary registration is undone');
    const cal = await calibrateACT(model, items, { alpha: 2, minQueries: 4, beta: 0.3 });
    assert.equal(cal.perHead.length, 4);
    assert.equal(cal.base, base);
    for (const h of cal.perHead) assert.equal(h.delta, h.accuracy - base);
    assert.deepEqual(new Set(cal.selected.map((s) => `${s.layer}:${s.head}`)), new Set(cal.perHead.filter((h) => h.delta > 0).map((h) => `${h.layer}:${h.head}`)));
    const applied = await applyACT(model, items, cal.selected, { alpha: 2, minQueries: 4, beta: 0.3 });
    assert.equal(applied.accuracy, cal.accuracy, 'applying the calibration to its own items reproduces its accuracy');
    for (let l = 0; l < 2; l++) for (let h = 0; h < 2; h++) assert.equal(model.getAttentionChoice(l, h).name, 'softmax');
  }
  const model = new Transformer(cfg, { seed: 2 });
  await assert.rejects(qaAccuracy(model, [items[0]!, { tokens: [1, 2], answer: [] }]), /item 1 has 2 tokens, item 0 30/);
  assert.throws(() => copyQA([1, 2, 3], { n: 1, passage: 8, sep: [0] }), /the stream has 3 tokens, a passage needs 8/);
});
