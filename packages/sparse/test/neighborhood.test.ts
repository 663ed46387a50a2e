import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention, causal, and, createBlockMask, getAttention } from '@attnlab/attention';
import { na1d, na2d, neighbours1d, neighbours1dCausal, denseFromNeighbours, naive2d, tileOccupancy } from '../src/neighborhood/index.js';
import { naiveAttention, maxAbsDiff } from '../src/flash-attention/naive.js';
import { denseMask } from '../src/common/dense.js';
import { rng } from '../src/common/random.js';
import { registerVariants } from '../src/index.js';
import { devices, disposeAll, qkv } from './util.js';

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

test('neighborhood: compiled 1-D/2-D NA/GNA masks equal the enumerated neighbour sets (random k, dilation, stride, edge sizes)', () => {
  const r = rng(3);
  const cases: [number, number, number, number][] = [[1, 1, 1, 1], [2, 3, 1, 1], [7, 3, 1, 1], [9, 7, 4, 1], [64, 8, 1, 8], [65, 8, 1, 8], [33, 4, 3, 2]];
  for (let i = 0; i < 25; i++) {
    const K = 1 + Math.floor(r() * 9);
    cases.push([1 + Math.floor(r() * 80), K, 1 + Math.floor(r() * 4), 1 + Math.floor(r() * K)]);
  }
  for (const [n, K, d, s] of cases) {
    assert.ok(same(denseMask(na1d({ length: n, kernelSize: K, dilation: d, stride: s }), n), denseFromNeighbours(neighbours1d(n, K, d, s))), `na1d n=${n} k=${K} δ=${d} s=${s}`);
    // NA's definition: every query has exactly min(k, its group's size) neighbours.
    neighbours1d(n, K, d, s).forEach((ks, q) => assert.equal(ks.length, Math.min(K, Math.ceil((n - (q % d)) / d))));
    if (s === 1) assert.ok(same(denseMask(na1d({ length: n, kernelSize: K, dilation: d, causal: true }), n), denseFromNeighbours(neighbours1dCausal(n, K, d))), `causal n=${n}`);
  }
  for (let i = 0; i < 10; i++) {
    const [h, w] = [1 + Math.floor(r() * 9), 1 + Math.floor(r() * 9)];
    const K: [number, number] = [1 + Math.floor(r() * 5), 1 + Math.floor(r() * 5)];
    const D: [number, number] = [1 + Math.floor(r() * 2), 1 + Math.floor(r() * 3)];
    const S: [number, number] = [1 + Math.floor(r() * K[0]), 1 + Math.floor(r() * K[1])];
    assert.ok(same(denseMask(na2d({ height: h, width: w, kernelSize: K, dilation: D, stride: S }), h * w), naive2d(h, w, K, D, S)), `na2d ${h}x${w} k=${K} δ=${D} s=${S}`);
  }
  assert.throws(() => na1d({ length: 8, kernelSize: 3, stride: 4 }), /stride \(4\) must not exceed kernelSize \(3\)/);
  assert.throws(() => na1d({ length: 0, kernelSize: 3 }), /length must be an integer >= 1/);
  assert.throws(() => na2d({ height: 4, width: 4, kernelSize: [3, 0] }), /width kernelSize must be an integer >= 1/);
});

test('neighborhood: NA/GNA attention (1-D, 2-D, causal) matches the masked-dense float64 reference to 1e-5 on CPU and WebGPU', async () => {
  for (const dev of await devices()) {
    const cases = [
      { n: 1, D: 16, mask: na1d({ length: 1, kernelSize: 3 }), keep: denseFromNeighbours(neighbours1d(1, 3)) },
      { n: 37, D: 32, mask: na1d({ length: 37, kernelSize: 7, dilation: 2 }), keep: denseFromNeighbours(neighbours1d(37, 7, 2)) },
      { n: 130, D: 64, mask: na1d({ length: 130, kernelSize: 16, dilation: 1, stride: 16 }), keep: denseFromNeighbours(neighbours1d(130, 16, 1, 16)) },
      { n: 45, D: 16, mask: na1d({ length: 45, kernelSize: 5, dilation: 3, causal: true }), keep: denseFromNeighbours(neighbours1dCausal(45, 5, 3)) },
      { n: 63, D: 32, mask: na2d({ height: 7, width: 9, kernelSize: [3, 5], dilation: [2, 1] }), keep: naive2d(7, 9, [3, 5], [2, 1]) },
      { n: 100, D: 128, mask: na2d({ height: 10, width: 10, kernelSize: 4, stride: 2 }), keep: naive2d(10, 10, [4, 4], [1, 1], [2, 2]) },
    ];
    for (const [i, c] of cases.entries()) {
      const x = qkv(dev, 200 + i, 1, 2, c.n, c.n, c.D);
      const got = await attention(x.q, x.k, x.v, { mask: c.mask });
      const ref = naiveAttention(x.qa, x.ka, x.va, { B: 1, H: 2, Nq: c.n, Nk: c.n, D: c.D }, { keep: (_h, q, k) => c.keep[q * c.n + k] === 1 });
      const err = maxAbsDiff(await got.out.data(), ref);
      assert.ok(err <= 1e-5, `${dev.kind} ${c.mask.name}: max |Δ| = ${err}`);
      got.out.dispose();
      got.lse.dispose();
      disposeAll(x);
    }
  }
});

test('neighborhood: the tile simulator counts what the kernel BlockMask computes; blocked GNA is perfectly block-sparse', () => {
  const r = rng(9);
  for (let i = 0; i < 8; i++) {
    const n = 16 + Math.floor(r() * 200);
    const K = 1 + Math.floor(r() * 20);
    const mask = na1d({ length: n, kernelSize: K, dilation: 1 + Math.floor(r() * 3) });
    const tile = [16, 32, 64][i % 3]!;
    const occ = tileOccupancy(denseMask(mask, n), n, n, tile);
    const bm = createBlockMask(mask, { B: 1, H: 1, Nq: n, Nk: n, blockSize: tile });
    assert.equal(occ.nonEmpty, bm.activeTiles(), `n=${n} k=${K} tile=${tile}`);
    assert.equal(occ.tiles, bm.nQB * bm.nKB);
  }
  const blocked = tileOccupancy(denseMask(na1d({ length: 512, kernelSize: 128, stride: 128 }), 512), 512, 512, 64);
  assert.deepEqual([blocked.nonEmpty, blocked.full, blocked.tiles, blocked.speedupBound, blocked.perfectlyBlockSparse], [16, 16, 64, 4, true]);
  assert.equal(tileOccupancy(new Uint8Array(4), 2, 2, 1).speedupBound, Infinity);
  assert.throws(() => tileOccupancy(new Uint8Array(3), 2, 2), /mask has 3 entries, expected 2 x 2/);
});

test("neighborhood: the 'neighborhood' variant ANDs NA with the caller's mask and refuses decode", async () => {
  const reg = registerVariants();
  try {
    const v = getAttention('neighborhood');
    for (const dev of await devices()) {
      const x = qkv(dev, 5, 1, 2, 21, 21, 16);
      const res = await v.forward(x.q, x.k, x.v, { mask: causal(), causal: true, options: { kernelSize: 5, dilation: 2 } });
      const keep = denseMask(and(causal(), na1d({ length: 21, kernelSize: 5, dilation: 2 })), 21);
      const ref = naiveAttention(x.qa, x.ka, x.va, { B: 1, H: 2, Nq: 21, Nk: 21, D: 16 }, { keep: (_h, q, k) => keep[q * 21 + k] === 1 });
      assert.ok(maxAbsDiff(await res.out.data(), ref) <= 1e-5, dev.kind);
      const y = qkv(dev, 6, 1, 1, 1, 4, 16);
      await assert.rejects(() => v.forward(y.q, y.k, y.v, { options: { kernelSize: 3 } }), /needs the whole sequence \(Nq = Nk\)/);
      disposeAll(x);
      disposeAll(y);
    }
  } finally {
    reg.dispose();
  }
});
