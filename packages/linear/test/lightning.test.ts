/**
 * L1 Lightning Attention-2: the three forms (parallel, recurrent, chunk) on the CPU and WebGPU
 * against the float64 recurrence on randomised shapes (edge sizes 1, odd, not multiples of B),
 * decays {1, 0.99, 0.9} per head, fp16-rounded inputs, initial/final state; gradients against the
 * float64 analytic gradient; the 'lightning' variant (SRMSNorm) and its decode state in a model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getAttention } from '@attnlab/attention';
import { Transformer } from '@attnlab/models';
import { cpuDevice, getDevice, mul, sum, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { lightning, numeric, registerVariants } from '../src/index.js';

const { lightningAttention, recurrentNaive, parallelNaive, chunkNaive, srmsNormNaive, gradNaive, stateOnlyPolicy, stateBytes, tnlDecay } = lightning;
const { rng, randnArray, relErr, toFp16Values } = numeric;

async function devices(): Promise<Device[]> {
  // WebGPU must be there (SwiftShader in CI): a missing adapter fails the test, never skips it.
  const gpu = await getDevice({ prefer: 'webgpu' });
  assert.equal(gpu.kind, 'webgpu', 'no WebGPU adapter');
  return [cpuDevice(), gpu];
}

interface Case { B: number; H: number; N: number; D: number; Dv: number; bs: number }
const CASES: Case[] = [
  { B: 1, H: 1, N: 1, D: 1, Dv: 1, bs: 16 },
  { B: 2, H: 3, N: 37, D: 5, Dv: 7, bs: 16 },
  { B: 1, H: 2, N: 64, D: 8, Dv: 8, bs: 64 },
  { B: 1, H: 3, N: 131, D: 16, Dv: 9, bs: 32 },
  { B: 1, H: 1, N: 200, D: 4, Dv: 3, bs: 128 },
];
const DECAYS = [1, 0.99, 0.9];

const f64 = async (t: Tensor): Promise<Float64Array> => Float64Array.from((await t.data()) as Float32Array);

test('naive float64: parallel, recurrent and chunk forms agree (B = 1, 5, 16; lambda 1, 0.99, 0.9; initial state)', () => {
  const r = rng(1);
  const d = { BH: 3, H: 3, N: 23, D: 4, Dv: 5 };
  const q = randnArray(r, 69 * 4), k = randnArray(r, 69 * 4), v = randnArray(r, 69 * 5), s0 = randnArray(r, 3 * 20);
  const o = { decay: DECAYS, scale: 0.5, s0 };
  const rec = recurrentNaive(q, k, v, d, o);
  assert.ok(relErr(parallelNaive(q, k, v, d, o), rec.out) < 1e-12);
  for (const bs of [1, 5, 16]) {
    const ch = chunkNaive(q, k, v, d, o, bs);
    assert.ok(relErr(ch.out, rec.out) < 1e-12, `chunk B=${bs}`);
    assert.ok(relErr(ch.state, rec.state) < 1e-12, `chunk state B=${bs}`);
  }
});

test('lightningAttention: three modes on CPU and WebGPU equal the float64 recurrence (rel <= 1e-5), fp32 and fp16-rounded inputs', async () => {
  const r = rng(7);
  for (const dev of await devices()) {
    for (const c of CASES) {
      for (const fp16 of [false, true]) {
        const decay = Array.from({ length: c.H }, (_, h) => DECAYS[(h + c.N) % 3]!);
        const rows = c.B * c.H * c.N;
        let q = randnArray(r, rows * c.D), k = randnArray(r, rows * c.D), v = randnArray(r, rows * c.Dv);
        if (fp16) [q, k, v] = [toFp16Values(q), toFp16Values(k), toFp16Values(v)];
        const s0 = randnArray(r, c.B * c.H * c.D * c.Dv, 0.5);
        const scale = 1 / Math.sqrt(c.D);
        const ref = recurrentNaive(q, k, v, { BH: c.B * c.H, H: c.H, N: c.N, D: c.D, Dv: c.Dv }, { decay, scale, s0 });
        for (const mode of ['parallel', 'recurrent', 'chunk'] as const) {
          const T = (x: Float32Array, w: number): Tensor => tensor(x, [c.B, c.H, c.N, w], { device: dev });
          const res = await lightningAttention(T(q, c.D), T(k, c.D), T(v, c.Dv), {
            decay, mode, blockSize: c.bs, initialState: tensor(s0, [c.B, c.H, c.D, c.Dv], { device: dev }), outputFinalState: true,
          });
          const where = `${dev.kind} ${mode} ${JSON.stringify(c)} fp16=${fp16}`;
          const e = relErr(await f64(res.out), ref.out);
          assert.ok(e <= 1e-5, `${where}: out rel err ${e}`);
          const es = relErr(await f64(res.finalState!), ref.state);
          assert.ok(es <= 1e-5, `${where}: state rel err ${es}`);
        }
      }
    }
  }
});

test('lightningAttention: gradients of the three modes on CPU and WebGPU equal the float64 analytic gradient (rel <= 1e-4)', async () => {
  const r = rng(11);
  for (const dev of await devices()) {
    for (const c of [CASES[0]!, CASES[1]!, CASES[3]!]) {
      const decay = Array.from({ length: c.H }, (_, h) => DECAYS[h % 3]!);
      const rows = c.B * c.H * c.N;
      const q = randnArray(r, rows * c.D), k = randnArray(r, rows * c.D), v = randnArray(r, rows * c.Dv), g = randnArray(r, rows * c.Dv);
      const scale = 1 / Math.sqrt(c.D);
      const ref = gradNaive(q, k, v, g, { BH: c.B * c.H, H: c.H, N: c.N, D: c.D, Dv: c.Dv }, { decay, scale });
      for (const mode of ['parallel', 'recurrent', 'chunk'] as const) {
        const T = (x: Float32Array, w: number): Tensor => tensor(x, [c.B, c.H, c.N, w], { device: dev, requiresGrad: true });
        const [tq, tk, tv] = [T(q, c.D), T(k, c.D), T(v, c.Dv)];
        const res = await lightningAttention(tq, tk, tv, { decay, mode, blockSize: c.bs });
        sum(mul(res.out, tensor(g, [c.B, c.H, c.N, c.Dv], { device: dev }))).backward();
        const where = `${dev.kind} ${mode} ${JSON.stringify(c)}`;
        for (const [name, t, want] of [['dq', tq, ref.dq], ['dk', tk, ref.dk], ['dv', tv, ref.dv]] as const) {
          assert.ok(t.grad, `${where}: no ${name}`);
          const e = relErr(await f64(t.grad), want);
          assert.ok(e <= 1e-4, `${where}: ${name} rel err ${e}`);
        }
      }
    }
  }
});

test("variant 'lightning': SRMSNorm of the decayed linear attention per head, on CPU and WebGPU", async () => {
  const reg = registerVariants();
  try {
    const r = rng(3);
    for (const dev of await devices()) {
      const [B, H, N, D] = [1, 2, 45, 8];
      const q = randnArray(r, B * H * N * D), k = randnArray(r, B * H * N * D), v = randnArray(r, B * H * N * D);
      const decay = [0.9, 0.99];
      const T = (x: Float32Array): Tensor => tensor(x, [B, H, N, D], { device: dev });
      const res = await getAttention('lightning').forward(T(q), T(k), T(v), { options: { decay, blockSize: 16 } });
      const want = srmsNormNaive(recurrentNaive(q, k, v, { BH: B * H, H, N, D, Dv: D }, { decay, scale: 1 / Math.sqrt(D) }).out, D, 1e-6);
      const e = relErr(await f64(res.out), want);
      assert.ok(e <= 1e-5, `${dev.kind}: rel err ${e}`);
    }
    await assert.rejects(getAttention('lightning').forward(tensor(new Float32Array(4), [1, 1, 2, 2]), tensor(new Float32Array(4), [1, 1, 2, 2]), tensor(new Float32Array(4), [1, 1, 2, 2]), { options: { decay: 1.5 } }), /decay of head 0 must be in \(0, 1\]/);
  } finally {
    reg.dispose();
  }
});

test('tnlDecay: TransNormerLLM schedule exp(-(8h/H)(1 - l/L)), checked arguments', () => {
  const d = tnlDecay(4, 1, 2);
  assert.deepEqual(d.map((x) => +x.toFixed(12)), [0, 1, 2, 3].map((h) => +Math.exp(-(8 * h / 4) * 0.5).toFixed(12)));
  assert.throws(() => tnlDecay(4, 2, 2), /layer must be an integer in \[0, 2\)/);
});

test("model: 'lightning' on some heads decodes through the KV cache (state carried, old tokens evicted) and equals the full forward", async () => {
  const reg = registerVariants();
  try {
    const model = new Transformer({ vocabSize: 31, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 64, positional: 'rotary' }, { seed: 5 });
    model.setAttention({ layer: 0, heads: [0, 1] }, 'lightning', { decay: tnlDecay(2, 0, 2).map((x) => Math.max(x, 0.5)), blockSize: 4 });
    model.setAttention({ layer: 1, head: 1 }, 'lightning', { decay: 0.9, blockSize: 8 });
    const toks = Array.from({ length: 20 }, (_, i) => (i * 7 + 3) % 31);
    const full = await f64(await model.forward([toks]));
    const V = 31;
    // Linear heads keep no old tokens; the softmax head (layer 1 head 0) keeps them all.
    const cache = model.createKVCache({ policy: (l, h) => (l === 0 || h === 1 ? stateOnlyPolicy() : null) });
    const pre = await f64(await model.forward([toks.slice(0, 7)], { kvCache: cache }));
    assert.ok(relErr(pre, full.subarray(0, 7 * V)) < 1e-5, 'prefill logits');
    const bytes: number[] = [];
    for (let t = 7; t < 20; t++) {
      const step = await f64(await model.forward([[toks[t]!]], { kvCache: cache }));
      const e = relErr(step, full.subarray(t * V, (t + 1) * V));
      assert.ok(e < 1e-4, `decode step ${t}: rel err ${e}`);
      bytes.push(stateBytes(cache));
      assert.equal(cache.kept(0, 0, 0), 1, 'a linear head holds only the current token');
    }
    assert.ok(bytes.every((b) => b === bytes[0] && b > 0), `state bytes constant: ${bytes.join(', ')}`);
    assert.equal(cache.kept(0, 0, 1), 20, 'the softmax head keeps every token');
    // The states live in the cache: bytes() counts them with the keys and values; dispose() frees them.
    const s0 = cache.state(0, [0, 1]);
    const s1 = cache.state(1, [1]);
    assert.ok(s0 && s1, 'one state per (layer, head slice) in the cache');
    const kvBytes = (1 + 1 + 20 + 1) * 8 * 2 * 4; // layer 0: one token per head; layer 1: 20 (softmax) + 1
    assert.equal(cache.bytes(), kvBytes + stateBytes(cache), 'bytes() = keys and values + states');
    assert.equal(cache.bytes({ layer: 1, head: 1 }), 8 * 2 * 4 + cache.stateBytes({ layer: 1 }));
    const live = cpuDevice().stats.liveBuffers;
    cache.dispose();
    assert.ok(s0.isDisposed && s1.isDisposed, 'cache.dispose() disposes the states');
    assert.equal(live - cpuDevice().stats.liveBuffers, 2, 'two state buffers freed');
    assert.equal(stateBytes(cache), 0);
  } finally {
    reg.dispose();
  }
});

test("model.generate with 'lightning' on every head: cached decode (state only) picks the tokens of full recomputation, batch 2", async () => {
  const reg = registerVariants();
  try {
    const model = new Transformer({ vocabSize: 23, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 64, positional: 'rotary' }, { seed: 9 });
    for (let l = 0; l < 2; l++) model.setAttention(l, 'lightning', { decay: tnlDecay(2, l, 2).map((x) => Math.max(x, 0.8)), blockSize: 8 });
    const prompt = [[1, 5, 7, 2, 9], [3, 3, 8, 0, 4]];
    const cached = await (await model.generate(prompt, { maxNewTokens: 12, cachePolicy: stateOnlyPolicy() })).data();
    const full = await (await model.generate(prompt, { maxNewTokens: 12, useCache: false })).data();
    assert.deepEqual(Array.from(cached), Array.from(full));
  } finally {
    reg.dispose();
  }
});
