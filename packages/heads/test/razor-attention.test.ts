/**
 * RazorAttention: the compensation token (mean of the dropped keys and values, with or without a
 * log-count offset) against a float64 computation of its definition on random shapes (N = 1,
 * odd, D = 1), CPU and WebGPU; in a model (retrieval heads full) against the float64 forward;
 * per-head output errors against the float64 norms.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { razorAttention } from '../src/index.js';
import { devices, randomModel } from './util.js';
import { attnOnlyRef64, compensatedRef, fullRef, maxAbsDiff, type Mat } from './ref64.js';

function rand(rng: Rng, shape: number[], dev: Device): { t: Tensor; host: Float32Array } {
  const host = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 1.5 * rng.normal());
  return { t: tensor(host, shape, { device: dev }), host };
}
/** rows of (b, h) as a matrix */
const mat = (a: Float32Array, b: number, h: number, H: number, N: number, D: number): Mat =>
  Array.from({ length: N }, (_, i) => Float64Array.from(a.subarray(((b * H + h) * N + i) * D, ((b * H + h) * N + i + 1) * D)));

test('compensatedAttention = float64 mean-of-dropped compensation token (and plain dropping), CPU and WebGPU', async () => {
  for (const dev of await devices()) {
    const rng = new Rng(21);
    for (const [B, H, N, D, Dv, sinks, window, logCount] of [
      [1, 1, 1, 1, 1, 1, 1, false], [2, 3, 9, 4, 4, 0, 2, false], [1, 2, 17, 8, 5, 2, 3, true], [2, 1, 33, 3, 3, 1, 1, true],
    ] as const) {
      const q = rand(rng, [B, H, N, D], dev);
      const k = rand(rng, [B, H, N, D], dev);
      const v = rand(rng, [B, H, N, Dv], dev);
      for (const compensate of [true, false]) {
        const out = await (await razorAttention.compensatedAttention(q.t, k.t, v.t, { sinks, window, logCount, compensate })).data();
        let e = 0;
        for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
          const want = compensatedRef(mat(q.host, b, h, H, N, D), mat(k.host, b, h, H, N, D), mat(v.host, b, h, H, N, Dv), sinks, window, 1 / Math.sqrt(D), compensate, logCount);
          e = Math.max(e, maxAbsDiff(mat(Float32Array.from(out), b, h, H, N, Dv).flatMap((r) => Array.from(r)), want.flatMap((r) => Array.from(r))));
        }
        assert.ok(e < 1e-4, `${dev.kind} [${B},${H},${N},${D}] Dv ${Dv} sinks ${sinks} window ${window} log ${logCount} compensate ${compensate}: max error ${e}`);
      }
    }
    const q = rand(rng, [1, 1, 4, 2], dev).t;
    await assert.rejects(razorAttention.compensatedAttention(q, rand(rng, [1, 1, 5, 2], dev).t, q, { sinks: 0, window: 1 }), /needs equal B, H, N/);
    await assert.rejects(razorAttention.compensatedAttention(q, q, q, { sinks: 0, window: 0 }), /window >= 1/);
  }
});

test('razorHooks: non-retrieval heads compensated, retrieval heads full = float64 forward (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    const model = randomModel({ vocabSize: 9, dModel: 12, nLayers: 2, nHeads: 3, attnOnly: true, nCtx: 16 }, 31, dev);
    const rng = new Rng(32);
    const rows = Array.from({ length: 2 }, () => Array.from({ length: 13 }, () => rng.int(9)));
    const full = [{ layer: 0, head: 2 }, { layer: 1, head: 0 }];
    for (const compensate of [true, false]) {
      const got = await (await model.run(rows, { hooks: razorAttention.razorHooks(model, full, { sinks: 1, window: 3, compensate }) })).data();
      const want = await attnOnlyRef64(model, rows, (l, h, Q, K, V, s) =>
        full.some((f) => f.layer === l && f.head === h) ? fullRef(Q, K, V, s) : compensatedRef(Q, K, V, 1, 3, s, compensate, false));
      const e = maxAbsDiff(got, want);
      assert.ok(e < 2e-4, `${dev.kind} compensate ${compensate}: max error ${e}`);
    }
  }
});

test('headOutputErrors: per-head relative errors of dropping and compensating = float64 over the positions that drop tokens', async () => {
  for (const dev of await devices()) {
    const model = randomModel({ vocabSize: 9, dModel: 8, nLayers: 1, nHeads: 2, attnOnly: true, nCtx: 16 }, 41, dev);
    const rng = new Rng(42);
    const rows = Array.from({ length: 2 }, () => Array.from({ length: 12 }, () => rng.int(9)));
    const spec = { sinks: 1, window: 3 };
    const got = await razorAttention.headOutputErrors(model, rows, spec);
    const { cache } = await model.runWithCache(rows, { names: ['blocks.0.attn.hook_q', 'blocks.0.attn.hook_k', 'blocks.0.attn.hook_v'] });
    const [q, k, v] = await Promise.all(['q', 'k', 'v'].map(async (n) => Float32Array.from(await cache[`blocks.0.attn.hook_${n}`]!.data())));
    const N = 12;
    const Dh = 4;
    const rowsOfHead = (a: Float32Array, b: number, h: number): Mat => Array.from({ length: N }, (_, i) => Float64Array.from(a.subarray(((b * N + i) * 2 + h) * Dh, ((b * N + i) * 2 + h + 1) * Dh)));
    for (let h = 0; h < 2; h++) {
      let nz = 0;
      let nd = 0;
      let nc = 0;
      for (let b = 0; b < 2; b++) {
        const [Q, K, V] = [rowsOfHead(q!, b, h), rowsOfHead(k!, b, h), rowsOfHead(v!, b, h)];
        const f = fullRef(Q, K, V, 0.5);
        const d = compensatedRef(Q, K, V, 1, 3, 0.5, false, false);
        const c = compensatedRef(Q, K, V, 1, 3, 0.5, true, false);
        for (let i = 4; i < N; i++) for (let x = 0; x < Dh; x++) {
          nz += f[i]![x]! ** 2;
          nd += (d[i]![x]! - f[i]![x]!) ** 2;
          nc += (c[i]![x]! - f[i]![x]!) ** 2;
        }
      }
      assert.ok(Math.abs(got.dropped[0]![h]! - Math.sqrt(nd / nz)) < 1e-4, `${dev.kind} head ${h} dropped ${got.dropped[0]![h]} vs ${Math.sqrt(nd / nz)}`);
      assert.ok(Math.abs(got.compensated[0]![h]! - Math.sqrt(nc / nz)) < 1e-4, `${dev.kind} head ${h} compensated ${got.compensated[0]![h]} vs ${Math.sqrt(nc / nz)}`);
    }
    await assert.rejects(razorAttention.headOutputErrors(model, rows, { sinks: 8, window: 4 }), /no query drops a token/);
  }
});

test("'razor' variant decodes through the KV cache (its heads on a { sinks, window } policy, compensation from the cache's state) = float64 forward (CPU and WebGPU)", async () => {
  const { registerVariants } = await import('../src/index.js');
  const reg = registerVariants();
  try {
    for (const dev of await devices()) {
      const model = randomModel({ vocabSize: 9, dModel: 12, nLayers: 2, nHeads: 3, attnOnly: true, nCtx: 16 }, 81, dev);
      const rng = new Rng(82);
      const rows = Array.from({ length: 2 }, () => Array.from({ length: 12 }, () => rng.int(9)));
      const razorHeads = [[0, 2], [1]];
      const spec = { sinks: 1, window: 3 };
      for (let l = 0; l < 2; l++) model.setAttention({ layer: l, heads: razorHeads[l]! }, 'razor', spec);
      const isRazor = (l: number, h: number): boolean => razorHeads[l]!.includes(h);
      const want = await attnOnlyRef64(model, rows, (l, h, Q, K, V, s) => (isRazor(l, h) ? compensatedRef(Q, K, V, 1, 3, s, true, false) : fullRef(Q, K, V, s)));
      // Without a cache: the whole sequence at once.
      const whole = await (await model.run(rows)).data();
      assert.ok(maxAbsDiff(whole, want) < 2e-4, `${dev.kind} whole sequence: max error ${maxAbsDiff(whole, want)}`);
      // Through the cache: prefill 5 tokens, then one at a time.
      const cache = model.createKVCache({ batch: 2, policy: (l, h) => (isRazor(l, h) ? spec : null) });
      const V = 9;
      const got = new Float32Array(2 * 12 * V);
      for (let s = 0; s < 12;) {
        const n = s === 0 ? 5 : 1;
        const t = tensor(Int32Array.from(rows.flatMap((r) => r.slice(s, s + n))), [2, n], { dtype: 'int32', device: dev });
        const out = await (await model.forward(t, { kvCache: cache })).data();
        for (let b = 0; b < 2; b++) got.set(out.subarray(b * n * V, (b + 1) * n * V), (b * 12 + s) * V);
        s += n;
      }
      const e = maxAbsDiff(got, want);
      assert.ok(e < 2e-4, `${dev.kind} through the cache: max error ${e}`);
      // Razor head 0 holds sinks + window tokens plus its state (k and v sums: 2 x D per row), full head 1 all 12 tokens.
      assert.deepEqual(cache.bytesPerHead(0).slice(0, 2), [(1 + 3) * 4 * 2 * 4 * 2 + 2 * 4 * 2 * 4, 12 * 4 * 2 * 4 * 2]);
      const two = tensor(Int32Array.from([1, 2, 3, 4]), [2, 2], { dtype: 'int32', device: dev });
      await assert.rejects(model.forward(two, { kvCache: cache }), /feed one token per call after the prefill \(got 2 tokens at position 12\)/);
      cache.dispose();
    }
  } finally {
    reg.dispose();
  }
});
