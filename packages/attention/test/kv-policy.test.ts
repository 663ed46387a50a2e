import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuDevice, getDevice, slice, tensor } from '@attnlab/tensor';
import {
  KVCache, attention, and, causal, getKVPolicy, listKVPolicies, positionPolicy, registerKVPolicy, slidingWindow,
  type KVPolicy,
} from '../src/index.js';
import { maxAbsDiff, randn, rng } from './util.js';

/**
 * H2O (heavy hitters + recent window) written as a plugin: observe() accumulates each held
 * token's attention weight, select() keeps the `heavy` highest-scoring older tokens plus the
 * `recent` newest. Nothing in the cache knows about it.
 */
function h2o(heavy: number, recent: number): KVPolicy & { scores: Map<string, Map<number, number>> } {
  const scores = new Map<string, Map<number, number>>();
  const key = (l: number, h: number, b: number): string => `${l}:${h}:${b}`;
  return {
    name: `h2o(${heavy}, ${recent})`,
    scores,
    observe: ({ layer, head, batch, positions, weights }) => {
      let m = scores.get(key(layer, head, batch));
      if (!m) scores.set(key(layer, head, batch), (m = new Map()));
      positions.forEach((p, i) => m!.set(p, (m!.get(p) ?? 0) + weights[i]!));
    },
    select: ({ layer, head, batch, positions, total }) => {
      if (positions.length <= heavy + recent) return null;
      const m = scores.get(key(layer, head, batch)) ?? new Map<number, number>();
      const old = [...positions.keys()].filter((i) => positions[i]! < total - recent);
      const top = old.sort((a, b) => (m.get(positions[b]!) ?? 0) - (m.get(positions[a]!) ?? 0) || a - b).slice(0, heavy);
      const recentIdx = [...positions.keys()].filter((i) => positions[i]! >= total - recent);
      return [...top, ...recentIdx].sort((a, b) => a - b);
    },
  };
}

test('a score-based policy (H2O) written as a plugin: the cache feeds it weights and evicts what it says; float64 simulation agrees', async () => {
  const r = rng(5);
  const [B, H, T, D, heavy, recent] = [2, 2, 36, 8, 2, 3];
  const k = randn(r, B * H * T * D);
  const v = randn(r, B * H * T * D);
  const q = randn(r, B * H * T * D);
  const policy = h2o(heavy, recent);
  const cache = new KVCache({ B, H, D, policy });
  const kt = tensor(k, [B, H, T, D]);
  const vt = tensor(v, [B, H, T, D]);
  const qt = tensor(q, [B, H, T, D]);
  // Independent simulation: held positions and accumulated weights per (b, h), in float64.
  const held = Array.from({ length: B * H }, () => [] as number[]);
  const acc = Array.from({ length: B * H }, () => new Map<number, number>());
  const bytes: number[] = [];
  for (let t = 0; t < T; t++) {
    await cache.append(slice(kt, [0, 0, t, 0], [B, H, 1, D]), slice(vt, [0, 0, t, 0], [B, H, 1, D]));
    const got = await (await cache.attend(slice(qt, [0, 0, t, 0], [B, H, 1, D]))).out.data();
    bytes.push(cache.bytes());
    for (let bh = 0; bh < B * H; bh++) {
      const hs = held[bh]!;
      hs.push(t);
      if (hs.length > heavy + recent) {
        const old = hs.filter((p) => p < t + 1 - recent).sort((a, b) => (acc[bh]!.get(b) ?? 0) - (acc[bh]!.get(a) ?? 0) || a - b).slice(0, heavy);
        held[bh] = [...old, ...hs.filter((p) => p >= t + 1 - recent)].sort((a, b) => a - b);
      }
      const kept = held[bh]!;
      const qv = q.subarray((bh * T + t) * D, (bh * T + t + 1) * D);
      const s = kept.map((p) => qv.reduce((a, x, d) => a + x * k[(bh * T + p) * D + d]!, 0) / Math.sqrt(D));
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const tot = e.reduce((a, x) => a + x, 0);
      kept.forEach((p, i) => acc[bh]!.set(p, (acc[bh]!.get(p) ?? 0) + e[i]! / tot));
      for (let d = 0; d < D; d++) {
        const want = kept.reduce((a, p, i) => a + (e[i]! / tot) * v[(bh * T + p) * D + d]!, 0);
        assert.ok(Math.abs(got[bh * D + d]! - want) < 1e-5, `t=${t} (b,h)=${bh}`);
      }
      assert.deepEqual([...cache.positions(bh % H, Math.floor(bh / H))], kept, `held tokens t=${t}`);
    }
  }
  assert.deepEqual(new Set(bytes.slice(heavy + recent)), new Set([B * H * (heavy + recent) * D * 8]), 'memory flat at the budget');
});

test('KV policy registry: by name with options; re-registering replaces; unknown names list every name; bad policies are named', async () => {
  assert.ok(listKVPolicies().includes('full'));
  // StreamingLLM's 'sinks-window' is registered by @attnlab/sparse, not by the mechanism.
  assert.ok(!listKVPolicies().includes('sinks-window'));
  const dw = registerKVPolicy('window-test', (o = {}) => positionPolicy(`window(${String(o['w'])})`, (k, q) => k > q - (o['w'] as number)));
  const p = getKVPolicy('window-test', { w: 2 });
  assert.equal(p.name, 'window(2)');
  assert.equal(p.visible!(7, 9), false);
  assert.equal(p.visible!(8, 9), true);
  assert.equal(p.visible!(10, 9), false, 'a position policy is causal');
  assert.deepEqual(p.select({ layer: 0, head: 0, batch: 0, positions: Int32Array.from([6, 7, 8, 9]), first: 9, total: 10 }), [2, 3]);
  dw.dispose();
  const d1 = registerKVPolicy('h2o-test', () => h2o(1, 1));
  const d2 = registerKVPolicy('h2o-test', () => h2o(2, 2));
  assert.equal(getKVPolicy('h2o-test').name, 'h2o(2, 2)');
  d1.dispose(); // stale: the second registration stays
  assert.equal(getKVPolicy('h2o-test').name, 'h2o(2, 2)');
  d2.dispose();
  assert.throws(() => getKVPolicy('h2o-test'), /unknown KV policy 'h2o-test' \(registered: full\)/);
  assert.throws(() => new KVCache({ B: 1, H: 1, D: 2, policy: { sinks: -1, window: 2 } }), /KVCache: \{ sinks, window \} needs integer sinks >= 0 and window >= 1/);
  assert.throws(() => positionPolicy('p', 3 as never), /policy 'p' needs a visible\(kpos, qpos\) function/);
  assert.throws(() => new KVCache({ B: 1, H: 1, D: 2, policy: 'lru' as never }), /a policy is a \{ select\(info\) \} object/);
  const one = (x: number[]): ReturnType<typeof tensor> => tensor(x, [1, 1, x.length / 2, 2]);
  const evictsNew = new KVCache({ B: 1, H: 1, D: 2, policy: { name: 'bad', select: () => [] } });
  await assert.rejects(evictsNew.append(one([1, 2]), one([3, 4])), /policy 'bad' evicted a token of the current append/);
  const unsorted = new KVCache({ B: 1, H: 1, D: 2, policy: { name: 'odd', select: ({ positions }) => (positions.length > 1 ? [1, 0] : null) } });
  await unsorted.append(one([1, 2]), one([3, 4]));
  await assert.rejects(unsorted.append(one([1, 2]), one([3, 4])), /policy 'odd' returned index 0: indices must be ascending/);
});

test('KVCache layers, per-head bytes, a user mask at original positions, and gather', async () => {
  const r = rng(9);
  const [B, H, T, D] = [1, 2, 12, 4];
  const k = tensor(randn(r, B * H * T * D), [B, H, T, D]);
  const v = tensor(randn(r, B * H * T * D), [B, H, T, D]);
  const q = tensor(randn(r, B * H * T * D), [B, H, T, D]);
  const cache = new KVCache({ B, H, D, layers: 2, policy: (layer, head) => (layer === 1 && head === 1 ? { sinks: 0, window: 3 } : null) });
  await cache.append(slice(k, [0, 0, 0, 0], [B, H, 5, D]), slice(v, [0, 0, 0, 0], [B, H, 5, D]), { layer: 0 });
  await cache.append(slice(k, [0, 0, 0, 0], [B, H, 5, D]), slice(v, [0, 0, 0, 0], [B, H, 5, D]), { layer: 1 });
  for (let t = 5; t < T; t++) {
    for (const layer of [0, 1]) await cache.append(slice(k, [0, 0, t, 0], [B, H, 1, D]), slice(v, [0, 0, t, 0], [B, H, 1, D]), { layer });
    const qt = slice(q, [0, 0, t, 0], [B, H, 1, D]);
    // Layer 0 keeps everything: a user mask is evaluated at original positions.
    const got = await cache.attend(qt, { layer: 0, mask: slidingWindow(3) });
    const want = await attention(qt, slice(k, [0, 0, 0, 0], [B, H, t + 1, D]), slice(v, [0, 0, 0, 0], [B, H, t + 1, D]), { mask: and(causal(), slidingWindow(3)) });
    assert.ok(maxAbsDiff(await got.out.data(), await want.out.data()) < 1e-5, `masked attend t=${t}`);
  }
  assert.equal(cache.seen(0), T);
  assert.equal(cache.kept(1, 0, 1), 3);
  assert.equal(cache.kept(1, 0, 0), T);
  assert.deepEqual(cache.bytesPerHead(1), [T * D * 8, 3 * D * 8]);
  assert.equal(cache.bytes(), (3 * T + 3) * D * 8);
  assert.equal(await cache.gather({ layer: 1 }), null, 'heads hold different tokens');
  const g = await cache.gather({ layer: 1, heads: [0] });
  assert.ok(g);
  assert.deepEqual(g.k.shape, [1, 1, T, D]);
  assert.equal(maxAbsDiff(await g.k.data(), await slice(k, [0, 0, 0, 0], [1, 1, T, D]).data()), 0);
  assert.throws(() => cache.kept(0, 0, 2), /layer 2 is out of range \(the cache holds 2\)/);
  await assert.rejects(cache.attend(slice(q, [0, 0, 0, 0], [B, H, 1, D]), { layer: 0, heads: [0] }), /heads lists 1 query heads but q has 2/);
  const rope = new KVCache({ B, H, D, positions: 'cache' });
  await rope.append(slice(k, [0, 0, 0, 0], [B, H, 1, D]), slice(v, [0, 0, 0, 0], [B, H, 1, D]));
  await assert.rejects(rope.attend(slice(q, [0, 0, 0, 0], [B, H, 1, D])), /positions: 'cache' stores keys before rotation; pass \{ rotary: \{ base \} \}/);
});

test('WebGPU: a score-based policy on a device cache (observe takes the float64 path, eviction cuts several runs) equals the CPU cache', async () => {
  const dev = await getDevice({ prefer: 'webgpu' });
  assert.equal(dev.kind, 'webgpu', 'a WebGPU adapter is required (SwiftShader works)');
  const r = rng(6);
  const [B, H, Hq, T, D] = [1, 2, 4, 24, 8];
  const k = randn(r, B * H * T * D);
  const v = randn(r, B * H * T * D);
  const q = randn(r, B * Hq * T * D);
  const caches = [new KVCache({ B, H, D, policy: h2o(3, 2) }), new KVCache({ B, H, D, policy: h2o(3, 2) })];
  const devs = [cpuDevice(), dev];
  const ts = devs.map((d) => ({ k: tensor(k, [B, H, T, D], { device: d }), v: tensor(v, [B, H, T, D], { device: d }), q: tensor(q, [B, Hq, T, D], { device: d }) }));
  for (let t = 0; t < T; t++) {
    const outs: Float32Array[] = [];
    for (let i = 0; i < 2; i++) {
      const x = ts[i]!;
      await caches[i]!.append(slice(x.k, [0, 0, t, 0], [B, H, 1, D]), slice(x.v, [0, 0, t, 0], [B, H, 1, D]));
      outs.push((await (await caches[i]!.attend(slice(x.q, [0, 0, t, 0], [B, Hq, 1, D]))).out.data()) as Float32Array);
    }
    assert.ok(maxAbsDiff(outs[0]!, outs[1]!) < 1e-5, `t=${t}`);
    for (let h = 0; h < H; h++) assert.deepEqual([...caches[1]!.positions(h)], [...caches[0]!.positions(h)], `held tokens t=${t} h=${h}`);
  }
  assert.equal(caches[1]!.device?.kind, 'webgpu');
  assert.equal(caches[1]!.bytes(), caches[0]!.bytes());
  caches[1]!.dispose();
});
