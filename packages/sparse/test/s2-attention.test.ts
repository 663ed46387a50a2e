import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention, causal, getAttention } from '@attnlab/attention';
import { s2Mask, naiveShards, shardStats } from '../src/s2-attention/index.js';
import { naiveAttention, maxAbsDiff } from '../src/flash-attention/naive.js';
import { denseMask } from '../src/common/dense.js';
import { registerVariants } from '../src/index.js';
import { devices, disposeAll, qkv } from './util.js';

test('s2-attention: shards equal the enumerated ones, are disjoint, their union is the causal mask, density ≈ 1/H', () => {
  for (const [n, H, off] of [[1, 1, 0], [5, 8, 3], [13, 4, 1], [64, 8, 0], [97, 3, 2]] as const) {
    const m = s2Mask({ heads: H, offset: off });
    const heads = Array.from({ length: H }, (_, h) => denseMask(m, n, n, h));
    const want = naiveShards(n, H, off);
    heads.forEach((d, h) => assert.ok(d.every((x, i) => x === want[h]![i]), `n=${n} H=${H} head ${h}`));
    const st = shardStats(heads, n);
    assert.equal(st.unionIsCausal, true);
    assert.equal(st.overlaps, 0);
  }
  const n = 2048;
  const H = 8;
  const st = shardStats(naiveShards(n, H), n);
  for (const d of st.relDensity) assert.ok(Math.abs(d * H - 1) <= H / n, `relative density ${d}`);
  assert.throws(() => s2Mask({ heads: 0 }), /heads must be a positive integer/);
  assert.throws(() => s2Mask({ heads: 2, headIndex: [2] }), /headIndex 2 is outside 0\.\.1/);
});

test('s2-attention: sharded attention and the variant on a head slice match float64 on CPU and WebGPU', async () => {
  const reg = registerVariants();
  try {
    for (const dev of await devices()) {
      for (const [n, H, D, off, local] of [[1, 2, 16, 0, 0], [31, 4, 32, 1, 0], [70, 3, 64, 2, 5]] as const) {
        const x = qkv(dev, n, 1, H, n, n, D);
        const got = await attention(x.q, x.k, x.v, { mask: s2Mask({ heads: H, offset: off, local }) });
        const keep = (h: number, q: number, k: number): boolean => k <= q && ((k + off) % H === h || q - k < local);
        const ref = naiveAttention(x.qa, x.ka, x.va, { B: 1, H, Nq: n, Nk: n, D }, { keep });
        assert.ok(maxAbsDiff(await got.out.data(), ref) <= 1e-5, `${dev.kind} n=${n} H=${H}`);
        disposeAll(x);
      }
      // A slice of model heads [1, 3] of H = 4: mask head index 0 is model head 1, 1 is head 3.
      const x = qkv(dev, 3, 1, 2, 19, 19, 16);
      const res = await getAttention('s2-attention').forward(x.q, x.k, x.v, { mask: causal(), causal: true, heads: [1, 3], options: { heads: 4 } });
      const ref = naiveAttention(x.qa, x.ka, x.va, { B: 1, H: 2, Nq: 19, Nk: 19, D: 16 }, { keep: (h, q, k) => k <= q && k % 4 === [1, 3][h] });
      assert.ok(maxAbsDiff(await res.out.data(), ref) <= 1e-5, `${dev.kind} head slice`);
      disposeAll(x);
    }
  } finally {
    reg.dispose();
  }
});
