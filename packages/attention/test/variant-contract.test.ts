import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slice, tensor, type Tensor } from '@attnlab/tensor';
import {
  attention, attentionContext, attentionWeights, causal, createBlockMask, effectiveMask, getAttention, scoreMod, slidingWindow, sinks, or,
} from '../src/index.js';
import { maxAbsDiff, randn, rng } from './util.js';

/** out = weights @ v for GQA shapes (weights [B, Hq, Nq, Nk], v [B, Hkv, Nk, Dv]). */
async function weighted(w: Tensor, v: Tensor): Promise<Float32Array> {
  const [B, Hq, Nq, Nk] = w.shape as [number, number, number, number];
  const [, Hkv, , Dv] = v.shape as [number, number, number, number];
  const wa = await w.data();
  const va = await v.data();
  const out = new Float32Array(B * Hq * Nq * Dv);
  for (let b = 0; b < B; b++) for (let h = 0; h < Hq; h++) for (let i = 0; i < Nq; i++) for (let d = 0; d < Dv; d++) {
    let s = 0;
    for (let j = 0; j < Nk; j++) s += wa[((b * Hq + h) * Nq + i) * Nk + j]! * va[((b * Hkv + Math.floor(h / (Hq / Hkv))) * Nk + j) * Dv + d]!;
    out[((b * Hq + h) * Nq + i) * Dv + d] = s;
  }
  return out;
}

const SHAPES: [number, number, number, number, number, number][] = [
  // B, Hq, Hkv, Nq, Nk, D: edge sizes, odd sizes, GQA, decode (Nq < Nk)
  [1, 1, 1, 1, 1, 1],
  [2, 4, 2, 5, 9, 3],
  [1, 3, 3, 17, 17, 8],
  [2, 2, 1, 1, 13, 5],
];

test('softmax and sigmoid variants return weights and scores for hook_pattern: weights @ v = out, logsumexp(scores) = lse', async () => {
  const r = rng(3);
  const slopes = [0.5, 0.25, 0.125, 0.0625];
  for (const [B, Hq, Hkv, Nq, Nk, D] of SHAPES) {
    const q = tensor(randn(r, B * Hq * Nq * D), [B, Hq, Nq, D]);
    const k = tensor(randn(r, B * Hkv * Nk * D), [B, Hkv, Nk, D]);
    const v = tensor(randn(r, B * Hkv * Nk * D), [B, Hkv, Nk, D]);
    const mask = effectiveMask(true, or(sinks(1), slidingWindow(3)));
    const mod = scoreMod((s, _b, h, qi, ki) => s - slopes[h]! * (qi - ki), { captures: { slopes } });
    for (const [name, sm] of [['softmax', mod], ['sigmoid', mod], ['softmax', null], ['sigmoid', null]] as const) {
      // With a score mod the weights are float64 on the host; without, tensor ops from lse.
      const r1 = await getAttention(name).forward(q, k, v, { mask, scoreMod: sm, returnProbs: true, returnScores: true });
      const want = await attention(q, k, v, { mask, scoreMod: sm, normalize: name });
      if (!sm) {
        const w64 = await attentionWeights(q, k, { scale: 1 / Math.sqrt(D), mask, normalize: name });
        assert.ok(maxAbsDiff(await r1.probs!.data(), await w64.probs.data()) < 1e-5, `${name}: tensor weights vs float64`);
        assert.ok(maxAbsDiff(await r1.scores!.data(), await w64.scores.data()) < 1e-5, `${name}: tensor scores vs float64`);
      }
      assert.deepEqual(r1.probs!.shape, [B, Hq, Nq, Nk]);
      assert.ok(maxAbsDiff(await r1.out.data(), await want.out.data()) === 0, `${name}: out is attention()'s`);
      assert.ok(maxAbsDiff(await weighted(r1.probs!, v), await want.out.data()) < 1e-5, `${name} ${[B, Hq, Hkv, Nq, Nk, D]}: weights @ v`);
      const s = await r1.scores!.data();
      const lse = await want.lse.data();
      if (name === 'softmax') {
        for (let row = 0; row < B * Hq * Nq; row++) {
          const xs = Array.from(s.subarray(row * Nk, (row + 1) * Nk)).filter((x) => x > -Infinity);
          const m = Math.max(...xs);
          assert.ok(Math.abs(m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0)) - lse[row]!) < 1e-4, `lse row ${row}`);
        }
      }
    }
  }
});

test("'linear' and 'linear-elu1-normalized': parallel-form weights reproduce the output; decode rows equal the full run", async () => {
  const r = rng(4);
  const [B, H, N, D] = [2, 3, 11, 4];
  const q = tensor(randn(r, B * H * N * D), [B, H, N, D]);
  const k = tensor(randn(r, B * H * N * D), [B, H, N, D]);
  const v = tensor(randn(r, B * H * N * D), [B, H, N, D]);
  for (const [name, options] of [
    ['linear', { featureMap: 'elu1', decay: [0.9, 1, 0.7], normalize: true }],
    ['linear', { featureMap: 'relu', mode: 'recurrent' }],
    ['linear-elu1-normalized', {}],
  ] as const) {
    const full = await getAttention(name).forward(q, k, v, { mask: causal(), returnProbs: true, options });
    assert.ok(maxAbsDiff(await weighted(full.probs!, v), await full.out.data()) < 1e-4, `${name} ${JSON.stringify(options)}: weights @ v`);
    // Decode: the last 2 queries against all keys give the last 2 rows.
    const last = await getAttention(name).forward(slice(q, [0, 0, N - 2, 0], [B, H, 2, D]), k, v, { mask: causal(), options });
    assert.ok(maxAbsDiff(await last.out.data(), await slice(full.out, [0, 0, N - 2, 0], [B, H, 2, D]).data()) < 1e-5, `${name}: decode rows`);
  }
  // Only the masked variant takes other masks.
  const win = await getAttention('linear-elu1-normalized').forward(q, k, v, { mask: effectiveMask(true, slidingWindow(2)), returnProbs: true });
  const P = (await win.probs!.array()) as number[][][][];
  assert.equal(P[0]![0]![5]![3], 0);
  assert.ok(P[0]![0]![5]![4]! > 0);
  await assert.rejects(getAttention('linear').forward(q, k, v, { mask: effectiveMask(true, slidingWindow(2)) }), /causal by construction and takes no other mask/);
});

test('context defaults and the effective mask', async () => {
  const q = tensor(new Float32Array(2 * 3 * 9), [1, 2, 3, 9]);
  const c = attentionContext(q);
  assert.equal(c.scale, 1 / 3);
  assert.equal(c.mask, null);
  assert.equal(c.cache, null);
  assert.deepEqual(c.options, {});
  const m = effectiveMask(true, slidingWindow(2));
  const f = (m as ReturnType<typeof causal>).evaluator(4, 4);
  assert.deepEqual([0, 1, 2, 3].map((j) => f(0, 0, 2, j)), [false, true, true, false]);
  assert.equal(String(effectiveMask(true, null)), 'MaskMod(causal)');
  assert.equal(effectiveMask(false, undefined), null);
  assert.throws(() => effectiveMask(true, createBlockMask(causal(), { B: 1, H: 1, Nq: 4, Nk: 4 })), /BlockMask cannot be combined with the causal mask/);
});

test('attentionWeights on a fully masked row gives zeros, never NaN', async () => {
  const q = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
  const w = await attentionWeights(q, q, { scale: 1, mask: sinks(0) });
  assert.deepEqual(Array.from(await w.probs.data()), [0, 0, 0, 0]);
  assert.ok(Array.from(await w.scores.data()).every((x) => x === -Infinity));
});
