/**
 * L3 Zoology's gated-convolution baseline (H3-lite): the tensor op on the CPU and WebGPU equals the
 * float64 recurrence (shift, long exponential convolution, output gate) on randomized shapes;
 * gradients equal finite differences; the 'gated-conv' variant trains in a model and decodes
 * through the KV cache equal to the full forward.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Transformer, tasks, train } from '@attnlab/models';
import { cpuDevice, getDevice, mul, sum, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { numeric, registerVariants, zoology } from '../src/index.js';

const { gatedConv, gatedConvNaive, gatedConvTimescales } = zoology;
const { rng, randnArray, relErr } = numeric;

async function devices(): Promise<Device[]> {
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [cpuDevice(), gpu];
}

test('gatedConv on CPU and WebGPU equals the float64 recurrence (shift on/off, N = 1, odd, 100)', async () => {
  const r = rng(11);
  for (const dev of await devices()) {
    for (const [B, H, N, D] of [[1, 1, 1, 1], [2, 1, 17, 3], [1, 3, 100, 8]] as const) {
      const q = randnArray(r, B * H * N * D), k = randnArray(r, B * H * N * D), v = randnArray(r, B * H * N * D);
      for (const shift of [true, false]) {
        const ts = gatedConvTimescales(D, 64);
        const T = (x: Float32Array): Tensor => tensor(x, [B, H, N, D], { device: dev });
        const got = Float64Array.from((await gatedConv(T(q), T(k), T(v), { maxTimescale: 64, shift }).data()) as Float32Array);
        const e = relErr(got, gatedConvNaive(q, k, v, { BH: B * H, N, D }, ts, shift));
        assert.ok(e <= 1e-5, `${dev.kind} [${B}, ${H}, ${N}, ${D}] shift=${shift}: rel err ${e}`);
      }
    }
  }
});

test('gatedConv: gradients equal finite differences of the float64 recurrence; bad input is named', async () => {
  const r = rng(12);
  const [B, H, N, D] = [1, 2, 7, 3];
  const q = randnArray(r, B * H * N * D), k = randnArray(r, B * H * N * D), v = randnArray(r, B * H * N * D), g = randnArray(r, B * H * N * D);
  const ts = [1, 3, 10];
  const loss = (a: ArrayLike<number>, b: ArrayLike<number>, c: ArrayLike<number>) => gatedConvNaive(a, b, c, { BH: 2, N, D }, ts).reduce((s, x, i) => s + x * g[i]!, 0);
  const [tq, tk, tv] = [q, k, v].map((x) => tensor(x, [B, H, N, D], { requiresGrad: true })) as [Tensor, Tensor, Tensor];
  sum(mul(gatedConv(tq, tk, tv, { timescales: ts }), tensor(g, [B, H, N, D]))).backward();
  for (const [i, t] of [tq, tk, tv].entries()) {
    const x = [q, k, v][i]!;
    const fd = new Float64Array(x.length);
    for (let j = 0; j < x.length; j++) {
      const p = Float64Array.from(x), m = Float64Array.from(x);
      p[j]! += 1e-5;
      m[j]! -= 1e-5;
      const with_ = (y: Float64Array) => [q, k, v].map((z, zi) => (zi === i ? y : z)) as [Float64Array, Float64Array, Float64Array];
      fd[j] = (loss(...with_(p)) - loss(...with_(m))) / 2e-5;
    }
    const e = relErr((await t.grad!.data()) as Float32Array, fd);
    assert.ok(e <= 1e-3, `${['dq', 'dk', 'dv'][i]}: rel err ${e}`);
  }
  const z = tensor(new Float32Array(8), [1, 1, 4, 2]);
  assert.throws(() => gatedConv(z, z, tensor(new Float32Array(12), [1, 1, 4, 3])), /v \[1, 1, 4, 3\] must be \[1, 1, 4, 2\]/);
  assert.throws(() => gatedConv(z, z, z, { timescales: [1] }), /timescales has 1 entries for head dim 2/);
  assert.throws(() => gatedConv(z, z, z, { timescales: [1, 0.5] }), /timescales must be >= 1, got 0.5/);
});

test("variant 'gated-conv' in a model: a few training steps lower the MQAR loss; decode through the KV cache equals the full forward", async () => {
  const reg = registerVariants();
  try {
    const m = new Transformer({ vocabSize: 32, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 16, positional: 'rotary' }, { seed: 5 });
    m.setAttention('all', 'gated-conv', { maxTimescale: 32 });
    const res = await train(m, tasks.mqar({ vocabSize: 32, numKV: 2, seqLen: 8 }), { steps: 30, batchSize: 16, lr: 1e-2, warmupSteps: 2, progress: false, progressLine: false });
    assert.ok(res.losses.at(-1)! < res.losses[0]!, `loss ${res.losses[0]} -> ${res.losses.at(-1)}`);
    const toks = Array.from({ length: 11 }, (_, i) => (i * 5 + 1) % 32);
    const full = (await (await m.forward([toks])).data()) as Float32Array;
    const cache = m.createKVCache();
    await m.forward([toks.slice(0, 5)], { kvCache: cache });
    let worst = 0;
    for (let t = 5; t < 11; t++) {
      const lg = (await (await m.forward([[toks[t]!]], { kvCache: cache })).data()) as Float32Array;
      worst = Math.max(worst, relErr(lg, full.subarray(t * 32, (t + 1) * 32)));
    }
    cache.dispose();
    assert.ok(worst <= 1e-5, `decode vs full: ${worst}`);
  } finally {
    reg.dispose();
  }
});

test('recall probe: softmax and RAT through the library ops equal the float64 mixers (softmax; RAT L = 1 is softmax); the BASED dial ends at Taylor linear (W = 0) and softmax (W > N)', async () => {
  const p = zoology.recallProblem({ N: 37, dk: 8, dv: 6, M: 16, queries: 24, seed: 3 });
  const beta = 3;
  const soft = zoology.mixNaive(p, { kind: 'softmax' }, beta);
  assert.ok(relErr(await zoology.mixWithOps(p, { kind: 'softmax' }, beta), soft) <= 1e-5);
  assert.ok(relErr(await zoology.mixWithOps(p, { kind: 'rat', chunkSize: 1, decay: 0.3 }, beta), soft) <= 1e-5);
  const taylor = zoology.mixNaive(p, { kind: 'taylor' }, beta);
  assert.ok(relErr(await zoology.mixWithOps(p, { kind: 'taylor' }, beta), taylor) <= 1e-5);
  assert.ok(relErr(zoology.mixNaive(p, { kind: 'based', window: 0, featureDim: 8 }, beta), taylor) <= 1e-12);
  assert.ok(relErr(zoology.mixNaive(p, { kind: 'based', window: 38, featureDim: 3 }, beta), soft) <= 1e-12);
  assert.ok(relErr(zoology.mixNaive(p, { kind: 'sparse', topK: 0 }, beta), taylor) <= 1e-12);
  assert.ok(relErr(zoology.mixNaive(p, { kind: 'sparse', topK: 38 }, beta), soft) <= 1e-12);
  assert.equal(zoology.scoreRecall(p, soft), zoology.scoreRecall(p, await zoology.mixWithOps(p, { kind: 'softmax' }, beta)));
  assert.throws(() => zoology.mixNaive(p, { kind: 'based', window: 2, featureDim: 9 }, beta), /featureDim must be an integer in \[1, 8\], got 9/);
  assert.throws(() => zoology.recallProblem({ N: 0, dk: 2 }), /N must be a positive integer, got 0/);
});

test("shiftKeys moves the upper half of each key's channels one position later; 'softmax-shift' equals float64 attention on shifted keys and decodes through the cache", async () => {
  const r = rng(13);
  const [B, H, N, D] = [2, 2, 9, 5];
  const k = randnArray(r, B * H * N * D);
  const got = (await zoology.shiftKeys(tensor(k, [B, H, N, D])).data()) as Float32Array;
  const want = new Float64Array(k.length);
  for (let bh = 0; bh < B * H; bh++) for (let t = 0; t < N; t++) for (let c = 0; c < D; c++) want[(bh * N + t) * D + c] = c < D - 2 ? k[(bh * N + t) * D + c]! : t === 0 ? 0 : k[(bh * N + t - 1) * D + c]!;
  assert.deepEqual(Array.from(got), Array.from(want, Math.fround));
  const q = randnArray(r, B * H * N * D), v = randnArray(r, B * H * N * D);
  const reg = registerVariants();
  try {
    const { getAttention, attentionContext, causal } = await import('@attnlab/attention');
    const out = (await (await getAttention('softmax-shift').forward(tensor(q, [B, H, N, D]), tensor(k, [B, H, N, D]), tensor(v, [B, H, N, D]), attentionContext(tensor(q, [B, H, N, D]), { mask: causal(), causal: true }))).out.data()) as Float32Array;
    const ref = new Float64Array(B * H * N * D);
    for (let bh = 0; bh < B * H; bh++) {
      for (let t = 0; t < N; t++) {
        const s = Array.from({ length: t + 1 }, (_, j) => { let a = 0; for (let c = 0; c < D; c++) a += q[(bh * N + t) * D + c]! * want[(bh * N + j) * D + c]!; return a / Math.sqrt(D); });
        const m = Math.max(...s), w = s.map((x) => Math.exp(x - m)), z = w.reduce((a, b) => a + b, 0);
        for (let c = 0; c < D; c++) ref[(bh * N + t) * D + c] = w.reduce((a, wj, j) => a + wj * v[(bh * N + j) * D + c]!, 0) / z;
      }
    }
    assert.ok(relErr(out, ref) <= 1e-5, `softmax-shift vs float64: ${relErr(out, ref)}`);
    for (const name of ['softmax-shift', 'linear-elu1-shift']) {
      const m = new Transformer({ vocabSize: 32, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 16, positional: 'rotary' }, { seed: 6 });
      m.setAttention('all', name);
      const toks = Array.from({ length: 11 }, (_, i) => (i * 3 + 2) % 32);
      const full = (await (await m.forward([toks])).data()) as Float32Array;
      const cache = m.createKVCache();
      await m.forward([toks.slice(0, 4)], { kvCache: cache });
      let worst = 0;
      for (let t = 4; t < 11; t++) worst = Math.max(worst, relErr((await (await m.forward([[toks[t]!]], { kvCache: cache })).data()) as Float32Array, full.subarray(t * 32, (t + 1) * 32)));
      cache.dispose();
      assert.ok(worst <= 1e-5, `${name} decode vs full: ${worst}`);
    }
  } finally {
    reg.dispose();
  }
});
