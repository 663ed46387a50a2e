/**
 * The model keeps a stateful variant's recurrent state in its KV cache (ctx.state in, result.state
 * back into cache.setState): decode equals the full forward, bytes() counts the state, dispose()
 * frees it (device memory stats). Head perturbations on heads that are not plain softmax are errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, cpuDevice, tensor, type Device } from '@attnlab/tensor';
import { registerAttention, scoreMod, type AttentionContext } from '@attnlab/attention';
import { randomModel, randomTokens, webgpuOrNull, SEED } from './helpers.js';
import type { Tensor } from '@attnlab/tensor';

/**
 * Causal running mean of v: out_i = sum_{j <= i} v_j / (i + 1), state = the running sum [B, h, 1, Dv].
 * Reading the cache, it gets only the new tokens, so decode needs ctx.state.
 */
async function runningMean(_q: Tensor, _k: Tensor, v: Tensor, ctx: AttentionContext): Promise<{ out: Tensor; state: Tensor }> {
  const [B, h, n, Dv] = v.shape as [number, number, number, number];
  const start = ctx.qPositions ? ctx.qPositions[0]! : 0;
  if (ctx.cache && start > 0 && !ctx.state) throw new Error(`running-mean: no state given at position ${start}`);
  const va = (await v.data()) as Float32Array;
  const s = ctx.state ? Float64Array.from((await ctx.state.data()) as Float32Array) : new Float64Array(B * h * Dv);
  const out = new Float32Array(B * h * n * Dv);
  for (let bh = 0; bh < B * h; bh++) {
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < Dv; d++) {
        s[bh * Dv + d]! += va[(bh * n + i) * Dv + d]!;
        out[(bh * n + i) * Dv + d] = s[bh * Dv + d]! / (start + i + 1);
      }
    }
  }
  return { out: tensor(out, [B, h, n, Dv], { device: v.device }), state: tensor(Float32Array.from(s), [B, h, 1, Dv], { device: v.device }) };
}

const CFG = { vocabSize: 23, dModel: 16, nLayers: 2, nHeads: 4, nCtx: 32, positional: 'rotary' as const };

async function decodeCase(device: Device): Promise<void> {
  const reg = registerAttention('test-running-mean', { readsCache: true, forward: runningMean });
  try {
    const model = randomModel(CFG, SEED + 3, device);
    model.setAttention({ layer: 0, heads: [1, 2] }, 'test-running-mean');
    model.setAttention(1, 'test-running-mean');
    const B = 2;
    const N = 11;
    const toks = randomTokens(new Rng(SEED + 4), B, N, CFG.vocabSize);
    const V = CFG.vocabSize;
    const full = (await (await model.forward(toks)).data()) as Float32Array;
    const cache = model.createKVCache({ batch: B });
    const pre = (await (await model.forward(toks.map((r) => r.slice(0, 4)), { kvCache: cache })).data()) as Float32Array;
    const row = (src: Float32Array, b: number, t: number, n: number): Float32Array => src.subarray((b * n + t) * V, (b * n + t + 1) * V);
    for (let b = 0; b < B; b++) for (let t = 0; t < 4; t++) assert.ok(maxAbs(row(pre, b, t, 4), row(full, b, t, N)) < 1e-4, `prefill b${b} t${t}`);
    for (let t = 4; t < N; t++) {
      const step = (await (await model.forward(toks.map((r) => [r[t]!]), { kvCache: cache })).data()) as Float32Array;
      for (let b = 0; b < B; b++) {
        const e = maxAbs(row(step, b, 0, 1), row(full, b, t, N));
        assert.ok(e < 1e-4, `${device.kind} decode step ${t} batch ${b}: max abs err ${e}`);
      }
    }
    // The states live in the cache, one per (layer, head slice).
    const s0 = cache.state(0, [1, 2]);
    const s1 = cache.state(1, [0, 1, 2, 3]);
    assert.ok(s0 && s1, 'the model stored each slice state in the cache');
    assert.deepEqual(s0.shape, [B, 2, 1, 4]);
    assert.equal(cache.state(0, [0, 3]), null, 'softmax heads have none');
    // bytes(): keys and values (full policy: N tokens) plus the states.
    const Dh = 4;
    const kv = 2 * B * 4 * N * Dh * 2 * 4;
    const st = (B * 2 * Dh + B * 4 * Dh) * 4;
    assert.equal(cache.stateBytes(), st);
    assert.equal(cache.bytes(), kv + st);
    assert.equal(cache.bytes({ layer: 0, head: 1 }), B * N * Dh * 8 + (B * 2 * Dh * 4) / 2, 'a slice state counts in equal shares per head');
    assert.equal(cache.bytes({ layer: 0, head: 0 }), B * N * Dh * 8);
    assert.deepEqual(cache.bytesPerHead(1), [0, 1, 2, 3].map(() => B * N * Dh * 8 + B * Dh * 4));
    // dispose() frees the states (and, on WebGPU, the device-held keys and values): the device's
    // live bytes drop by exactly what bytes() counted.
    const before = device.stats;
    const held = cache.bytes();
    const onDevice = device.kind === 'cpu' ? st : held;
    cache.dispose();
    const after = device.stats;
    assert.ok(s0.isDisposed && s1.isDisposed, 'dispose() disposes the state tensors');
    assert.equal(before.bytes - after.bytes, onDevice, `${device.kind}: device bytes freed by dispose()`);
    assert.equal(before.liveBuffers - after.liveBuffers, device.kind === 'cpu' ? 2 : 2 + 2 * CFG.nLayers * B * CFG.nHeads, `${device.kind}: live buffers freed`);
    assert.equal(cache.bytes(), 0);
    assert.equal(cache.state(0, [1, 2]), null);
  } finally {
    reg.dispose();
  }
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('CPU: a variant with a recurrent state decodes through the model KV cache to the full-forward logits; bytes() counts the state, dispose() frees it', async () => {
  await decodeCase(cpuDevice());
});

test('WebGPU: the same with states and keys on the device (live-buffer stats drop on dispose)', async () => {
  const { device, why } = await webgpuOrNull();
  assert.ok(device, `a WebGPU adapter is required (SwiftShader works): ${why}`);
  assert.equal(device.kind, 'webgpu', 'no WebGPU adapter');
  await decodeCase(device);
});

test('a head perturbation on a head that is not plain softmax is an error naming the head and its variant', async () => {
  const model = randomModel({ ...CFG, positional: 'learned' }, SEED + 5);
  const toks = randomTokens(new Rng(SEED + 6), 1, 6, CFG.vocabSize);
  model.setAttention({ layer: 0, heads: [2, 3] }, 'sigmoid');
  model.heads.set({ layer: 0, head: 0 }, { perturb: { mode: 'temperature', strength: 2 } });
  await model.forward(toks); // a softmax head: acts (hooks.test.ts checks how)
  model.heads.set({ layer: 0, head: 3 }, { perturb: { mode: 'uniform', strength: 0.5 } });
  await assert.rejects(model.forward(toks), /perturb on layer 0 head 3: that head runs variant 'sigmoid'/);
  model.heads.reset();
  model.setAttention({ layer: 1, head: 1 }, 'softmax', { scoreMod: scoreMod((s, _b, _h, q, k) => s - 0.5 * (q - k)) });
  model.heads.set({ layer: 1, head: 1 }, { perturb: { mode: 'identity', strength: 0.3 } });
  await assert.rejects(model.generate(toks, { maxNewTokens: 2 }), /perturb on layer 1 head 1: that head runs 'softmax' with a scoreMod/);
  model.heads.reset();
  assert.ok(await model.forward(toks), 'cleared: runs again');
});
