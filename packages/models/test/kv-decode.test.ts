import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@attnlab/tensor';
import { or, positionPolicy, sinks, slidingWindow } from '@attnlab/attention';
import type { ModelConfigInput } from '../src/index.js';
import { SEED, randomModel, randomTokens, webgpuOrNull } from './helpers.js';
import { gpt2Ref64, maxDiff } from './gpt2-ref64.js';

const V = 23;

test('decode through an evicting cache (DuoAttention-style per head) equals the full forward with the equivalent mask and float64', async () => {
  const cfg: ModelConfigInput = { vocabSize: V, dModel: 16, nLayers: 2, nHeads: 4, nCtx: 64, positional: 'rotary' };
  const model = randomModel(cfg, SEED);
  const [S, W, P, T] = [2, 4, 7, 47]; // sinks, window, prompt (longer than the window), total: 10x the window decoded
  const toks = randomTokens(new Rng(SEED + 20), 2, T, V);
  // Heads 0, 1 keep everything (retrieval); heads 2, 3 keep sinks + window (streaming).
  const kv = model.createKVCache({ batch: 2, policy: [null, null, positionPolicy('sinks-window', (k, q) => k < S || k > q - W), { sinks: S, window: W }] });
  const steps: Float32Array[] = [];
  steps.push((await (await model.forward(toks.map((r) => r.slice(0, P)), { kvCache: kv })).data()) as Float32Array);
  const streamBytes: number[] = [];
  for (let t = P; t < T; t++) {
    steps.push((await (await model.forward(toks.map((r) => [r[t]!]), { kvCache: kv })).data()) as Float32Array);
    streamBytes.push(kv.bytes({ head: 2 }) + kv.bytes({ head: 3 }));
  }
  // Memory of the streaming heads is flat: sinks + window tokens per (layer, batch, head).
  assert.deepEqual(new Set(streamBytes), new Set([2 * 2 * 2 * (S + W) * 4 * 2 * 4]));
  assert.deepEqual(kv.bytesPerHead(1), [2 * T * 32, 2 * T * 32, 2 * (S + W) * 32, 2 * (S + W) * 32]);
  // The same run as one masked forward, and as float64.
  model.setAttention({ heads: [2, 3] }, 'softmax', { mask: or(sinks(S), slidingWindow(W)) });
  const full = await (await model.forward(toks)).data();
  const ref = gpt2Ref64(model.config, await model.stateDict(), toks, { visible: (_l, h, i, j) => h < 2 || j < S || i - j < W });
  const row = (src: ArrayLike<number>, b: number, i: number): number[] => Array.from({ length: V }, (_, c) => src[(b * T + i) * V + c]!);
  for (let t = 0; t < T; t++) {
    const got = t < P ? [0, 1].flatMap((b) => Array.from(steps[0]!.subarray((b * P + t) * V, (b * P + t + 1) * V))) : Array.from(steps[t - P + 1]!);
    const want = [0, 1].flatMap((b) => row(full, b, t));
    const want64 = [0, 1].flatMap((b) => row(ref.logits, b, t));
    assert.ok(maxDiff(got, want) < 1e-4, `position ${t}: decode vs masked forward ${maxDiff(got, want)}`);
    assert.ok(maxDiff(got, want64) < 1e-4, `position ${t}: decode vs float64 ${maxDiff(got, want64)}`);
  }
  kv.dispose();
});

test("RoPE positions 'cache' (StreamingLLM): keys stored unrotated, rotated at their cache index; memory flat over 10x the window", async () => {
  const cfg: ModelConfigInput = { vocabSize: V, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 64, positional: 'rotary' };
  const model = randomModel(cfg, SEED + 1);
  const [S, W, T] = [1, 4, 42];
  const toks = randomTokens(new Rng(SEED + 21), 1, T, V);
  const kv = model.createKVCache({ policy: { sinks: S, window: W }, positions: 'cache' });
  const got: number[][] = [];
  const bytes: number[] = [];
  for (let t = 0; t < T; t++) {
    got.push(Array.from(await (await model.forward([[toks[0]![t]!]], { kvCache: kv })).data()));
    bytes.push(kv.bytes());
  }
  assert.deepEqual(new Set(bytes.slice(S + W)), new Set([2 * 2 * (S + W) * 8 * 2 * 4]), 'flat after the window fills');
  // float64: query i sees V(i) = sinks + window; it sits at index |V(i)| - 1, key j at its rank in V(i).
  const visible = (i: number, j: number): boolean => j <= i && (j < S || i - j < W);
  const rank = (i: number, j: number): number => {
    let r = 0;
    for (let x = 0; x < j; x++) if (visible(i, x)) r++;
    return r;
  };
  const ref = gpt2Ref64(model.config, await model.stateDict(), toks, {
    visible: (_l, _h, i, j) => visible(i, j),
    ropePositions: (_l, _h, i, j) => [rank(i, i), rank(i, j)],
  });
  for (let t = 0; t < T; t++) assert.ok(maxDiff(got[t]!, Array.from(ref.logits.subarray(t * V, (t + 1) * V))) < 1e-4, `position ${t}`);
  // Absolute positions differ once tokens were evicted (the modes mean different things).
  const abs = model.createKVCache({ policy: { sinks: S, window: W } });
  let last: number[] = [];
  for (let t = 0; t < T; t++) last = Array.from(await (await model.forward([[toks[0]![t]!]], { kvCache: abs })).data());
  assert.ok(maxDiff(last, got[T - 1]!) > 1e-4);
});

test('WebGPU: decode through an evicting per-head cache keeps keys on the device and matches float64', async () => {
  const { device, why } = await webgpuOrNull();
  assert.ok(device, `a WebGPU adapter is required (SwiftShader works): ${why}`);
  const cfg: ModelConfigInput = { vocabSize: V, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 32, positional: 'rotary' };
  const model = randomModel(cfg, SEED + 2, device);
  const [S, W, P, T] = [1, 3, 4, 20];
  const toks = randomTokens(new Rng(SEED + 22), 1, T, V);
  const kv = model.createKVCache({ policy: [null, { sinks: S, window: W }] });
  const got: number[][] = [];
  const first = await (await model.forward([toks[0]!.slice(0, P)], { kvCache: kv })).data();
  for (let t = 0; t < P; t++) got.push(Array.from(first.subarray(t * V, (t + 1) * V)));
  for (let t = P; t < T; t++) got.push(Array.from(await (await model.forward([[toks[0]![t]!]], { kvCache: kv })).data()));
  assert.equal(kv.device?.kind, 'webgpu');
  assert.equal(kv.kept(1, 0, 1), S + W);
  const ref = gpt2Ref64(model.config, await model.stateDict(), toks, { visible: (_l, h, i, j) => h === 0 || j < S || i - j < W });
  for (let t = 0; t < T; t++) assert.ok(maxDiff(got[t]!, Array.from(ref.logits.subarray(t * V, (t + 1) * V))) < 1e-3, `position ${t}`);
  kv.dispose();
});
