import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, slice, type Tensor } from '@attnlab/tensor';
import { KVCache, attention, causal, or, sinks, slidingWindow, registerAttention, getAttention, listAttention } from '../src/index.js';
import { rng, randn, maxAbsDiff } from './util.js';

test('KVCache: per-head eviction (full vs sinks + window) matches masked attention for decode', async () => {
  const r = rng(41);
  const [B, H, Hq, T, D] = [1, 2, 4, 40, 8];
  const k = tensor(randn(r, B * H * T * D), [B, H, T, D]);
  const v = tensor(randn(r, B * H * T * D), [B, H, T, D]);
  const q = tensor(randn(r, B * Hq * T * D), [B, Hq, T, D]);
  const pol = { sinks: 2, window: 6 };
  const cache = new KVCache({ B, H, D, policy: [null, pol] });
  // Prefill 30 tokens in one append, then decode one token at a time.
  await cache.append(slice(k, [0, 0, 0, 0], [B, H, 30, D]), slice(v, [0, 0, 0, 0], [B, H, 30, D]));
  for (let t = 30; t < T; t++) {
    await cache.append(slice(k, [0, 0, t, 0], [B, H, 1, D]), slice(v, [0, 0, t, 0], [B, H, 1, D]));
    const qt = slice(q, [0, 0, t, 0], [B, Hq, 1, D]);
    const got = await cache.attend(qt);
    const kt = slice(k, [0, 0, 0, 0], [B, H, t + 1, D]);
    const vt = slice(v, [0, 0, 0, 0], [B, H, t + 1, D]);
    // Heads 0,1 use kv head 0 (full); heads 2,3 use kv head 1 (streaming).
    const want = await attention(qt, kt, vt, { mask: [causal(), causal(), or(sinks(2), slidingWindow(6)), or(sinks(2), slidingWindow(6))] });
    assert.ok(maxAbsDiff(await got.out.data(), await want.out.data()) < 1e-5, `t=${t}`);
    assert.ok(maxAbsDiff(await got.lse.data(), await want.lse.data()) < 1e-5, `lse t=${t}`);
  }
  assert.equal(cache.kept(0), T);
  assert.equal(cache.kept(1), 8);
  assert.deepEqual([...cache.positions(1)], [0, 1, 34, 35, 36, 37, 38, 39]);
  assert.equal(cache.bytes(), (T + 8) * D * 2 * 4);
  await assert.rejects(cache.append(k, slice(v, [0, 0, 0, 0], [B, H, 3, D])), /k has 40 tokens but v has 3/);
  await assert.rejects(new KVCache({ B, H, D }).attend(q), /cache is empty/);
});

test('registry: built-in variants and plugin registration', async () => {
  assert.deepEqual(['softmax', 'sigmoid', 'linear', 'linear-elu1-normalized'].every((n) => listAttention().includes(n)), true);
  const r = rng(42);
  const q = tensor(randn(r, 2 * 9 * 8), [1, 2, 9, 8]);
  const a = await getAttention('softmax').forward(q, q, q, { mask: causal() });
  const b = await attention(q, q, q, { mask: causal() });
  assert.ok(maxAbsDiff(await a.out.data(), await b.out.data()) === 0);
  const s = await getAttention('sigmoid').forward(q, q, q, {});
  assert.ok((await s.lse!.data()).every(Number.isFinite));
  const l = await getAttention('linear').forward(q, q, q, { options: { featureMap: 'elu1', normalize: true } });
  assert.deepEqual(l.out.shape, [1, 2, 9, 8]);
  registerAttention('double', async (qq: Tensor) => ({ out: qq }));
  assert.equal((await getAttention('double').forward(q, q, q)).out, q);
  // A re-run cell registers the same name again: it replaces, no error.
  const second = registerAttention('double', async (_qq: Tensor, kk: Tensor) => ({ out: kk }));
  assert.equal((await getAttention('double').forward(q, q, q)).out, q);
  second.dispose();
  assert.throws(() => getAttention('double'), /unknown attention variant 'double'/);
  assert.throws(() => getAttention('nope'), /unknown attention variant 'nope' \(registered: softmax, sigmoid, linear, linear-elu1-normalized/);
});
