import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention } from '@attnlab/attention';
import { orionMask, naiveOrion, type OrionOptions } from '../src/orion/index.js';
import { reachability, receptiveField } from '../src/mask-algebra/index.js';
import { naiveAttention, maxAbsDiff } from '../src/flash-attention/naive.js';
import { denseMask } from '../src/common/dense.js';
import { rng } from '../src/common/random.js';
import { devices, disposeAll, qkv } from './util.js';

test('orion: the compiled window/global/random mask equals the set construction (random options, edge sizes)', () => {
  const r = rng(4);
  const cases: OrionOptions[] = [{ length: 1, window: 1 }, { length: 17, window: 3, globalTokens: 2 }, { length: 50, window: 4, randomBlocks: 2, blockSize: 7, causal: false }];
  for (let i = 0; i < 10; i++) {
    cases.push({ length: 1 + Math.floor(r() * 120), window: 1 + Math.floor(r() * 9), globalTokens: Math.floor(r() * 4), randomBlocks: Math.floor(r() * 4), blockSize: 1 + Math.floor(r() * 20), seed: i, causal: r() < 0.5 });
  }
  for (const o of cases) assert.deepEqual(denseMask(orionMask(o), o.length), naiveOrion(o), JSON.stringify(o));
  assert.throws(() => orionMask({ length: 8, window: 0 }), /window must be an integer >= 1/);
});

test('orion: with one global token every key is reachable within two (bidirectional) layers, not in one', () => {
  const n = 200;
  // q -> token 0 (a global key) -> every key (token 0 is a global query). Causally token 0 sees only itself.
  const R = reachability(naiveOrion({ length: n, window: 4, globalTokens: 1, randomBlocks: 1, blockSize: 16, causal: false }), n, 2);
  for (let q = 0; q < n; q++) assert.equal(receptiveField(R[1]!, n, q).count, n, `q=${q}`);
  assert.ok(receptiveField(R[0]!, n, n - 1).count < n);
});

test('orion: attention under the mask matches float64 on CPU and WebGPU', async () => {
  for (const dev of await devices()) {
    for (const o of [{ length: 1, window: 2 }, { length: 97, window: 5, globalTokens: 2, randomBlocks: 2, blockSize: 16, seed: 3 }, { length: 130, window: 9, globalTokens: 1, randomBlocks: 3, blockSize: 32, causal: false }] as OrionOptions[]) {
      const x = qkv(dev, o.length, 1, 2, o.length, o.length, 32);
      const keep = naiveOrion(o);
      const got = await attention(x.q, x.k, x.v, { mask: orionMask(o) });
      const ref = naiveAttention(x.qa, x.ka, x.va, { B: 1, H: 2, Nq: o.length, Nk: o.length, D: 32 }, { keep: (_h, q, k) => keep[q * o.length + k] === 1 });
      assert.ok(maxAbsDiff(await got.out.data(), ref) <= 1e-5, `${dev.kind} ${JSON.stringify(o)}`);
      disposeAll(x);
    }
  }
});
