import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, cpuDevice } from '@attnlab/tensor';
import { attention, causal, reference as R } from '../src/index.js';
import { rng, randn, maxAbsDiff } from './util.js';

/**
 * The CPU SIMD forward masks plain causal self-attention (Nq = Nk) by a loop bound in the tiles
 * on the diagonal instead of evaluating the mask per score: against float64 on sizes that cut
 * the 64-row and 64-key tiles anywhere (1, odd, just past a tile), every head dim the SIMD path takes.
 */
test('causal self-attention on the CPU SIMD path matches float64 on edge sizes', async () => {
  const dev = cpuDevice();
  let seed = 11;
  for (const N of [1, 2, 7, 63, 64, 65, 127, 130, 200]) {
    for (const D of [16, 32, 64]) {
      const r = rng(seed++);
      const B = 2;
      const H = 3;
      const qa = randn(r, B * H * N * D);
      const ka = randn(r, B * H * N * D);
      const va = randn(r, B * H * N * D);
      const [q, k, v] = [qa, ka, va].map((a) => tensor(a, [B, H, N, D], { device: dev }));
      const res = await attention(q!, k!, v!, { mask: causal() });
      const ref = R.attentionRef(qa, ka, va, { B, Hq: H, Hkv: H, Nq: N, Nk: N, D }, { mask: causal() });
      const out = (await res.out.data()) as Float32Array;
      const lse = (await res.lse.data()) as Float32Array;
      assert.ok(maxAbsDiff(out, ref.out) <= 1e-5, `out N=${N} D=${D}: ${maxAbsDiff(out, ref.out)}`);
      assert.ok(maxAbsDiff(lse, ref.lse) <= 1e-5, `lse N=${N} D=${D}: ${maxAbsDiff(lse, ref.lse)}`);
    }
  }
});
