/**
 * DuoAttention: the gated mix α·full + (1 − α)·stream in a model equals a float64 forward that
 * mixes each head by its definition (fractional α, N down to 1, CPU and WebGPU); binary gates
 * deployed as per-head cache policies equal the float64 forward with streaming heads masked; the
 * gradient reaching α matches finite differences; gate training keeps α in [0, 1].
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { cpuDevice, noGrad, Rng, scope, square, sub, sum, tensor, type Tensor } from '@attnlab/tensor';
import { passkey, type Transformer } from '@attnlab/models';
import { duoAttention, HeadGates } from '../src/index.js';
import { devices, randomModel } from './util.js';
import { attendRow, attnOnlyRef64, fullRef, maxAbsDiff, type Mat } from './ref64.js';

const cfg = { vocabSize: 9, dModel: 12, nLayers: 2, nHeads: 3, attnOnly: true, nCtx: 16 };
const rowsOf = (rng: Rng, B: number, N: number): number[][] => Array.from({ length: B }, () => Array.from({ length: N }, () => rng.int(9)));
const streamRef = (Q: Mat, K: Mat, V: Mat, scale: number, sinks: number, window: number): Mat =>
  Q.map((q, i) => attendRow(q, K, V, i, (j) => j < sinks || i - j < window, scale));

async function logits(model: Transformer, rows: number[][], opts: Parameters<Transformer['run']>[1] = {}): Promise<Float32Array> {
  return Float32Array.from(await (await model.run(rows, opts)).data());
}

test('duoHooks: fractional gates = float64 per-head mix of full and sinks+window attention (CPU and WebGPU, N 1..13)', async () => {
  for (const dev of await devices()) {
    const model = randomModel(cfg, 3, dev);
    const rng = new Rng(4);
    for (const [N, sinks, window] of [[1, 1, 1], [7, 0, 2], [13, 2, 3]] as const) {
      const alpha = Array.from({ length: 6 }, () => rng.uniform());
      alpha[1] = 0;
      alpha[4] = 1;
      const rows = rowsOf(rng, 2, N);
      const got = await logits(model, rows, { hooks: duoAttention.duoHooks(model, (l) => alpha.slice(l * 3, l * 3 + 3), { sinks, window }) });
      const want = await attnOnlyRef64(model, rows, (l, h, Q, K, V, s) => {
        const a = alpha[l * 3 + h]!;
        const f = fullRef(Q, K, V, s);
        const st = streamRef(Q, K, V, s, sinks, window);
        return f.map((r, i) => r.map((x, d) => a * x + (1 - a) * st[i]![d]!));
      });
      const e = maxAbsDiff(got, want);
      assert.ok(e < 2e-4, `${dev.kind} N=${N} sinks=${sinks} window=${window}: max error ${e}`);
    }
  }
});

test('binary gates as per-head KV cache policies (retrieval heads full, others sinks+window) = float64 masked forward, chunked decode (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    const model = randomModel(cfg, 5, dev);
    const rows = rowsOf(new Rng(6), 2, 11);
    const spec = { sinks: 1, window: 3 };
    const alpha = [1, 0, 0, 0, 1, 0];
    const full = duoAttention.retrievalSet(alpha, 3);
    assert.deepEqual(full, [{ layer: 0, head: 0 }, { layer: 1, head: 1 }]);
    const cache = model.createKVCache({ batch: 2, policy: duoAttention.headPolicies(full, spec) });
    const parts: Float32Array[] = [];
    for (const [s, n] of [[0, 5], [5, 1], [6, 4], [10, 1]] as const) {
      const t = tensor(Int32Array.from(rows.flatMap((r) => r.slice(s, s + n))), [2, n], { dtype: 'int32', device: dev });
      parts.push(Float32Array.from(await (await model.forward(t, { kvCache: cache })).data()));
    }
    const V = cfg.vocabSize;
    const got = new Float32Array(2 * 11 * V);
    let s = 0;
    for (const [i, n] of [[0, 5], [1, 1], [2, 4], [3, 1]] as const) {
      for (let b = 0; b < 2; b++) got.set(parts[i]!.subarray(b * n * V, (b + 1) * n * V), (b * 11 + s) * V);
      s += n;
    }
    const want = await attnOnlyRef64(model, rows, (l, h, Q, K, Vv, sc) => (alpha[l * 3 + h] ? fullRef(Q, K, Vv, sc) : streamRef(Q, K, Vv, sc, 1, 3)));
    const e = maxAbsDiff(got, want);
    assert.ok(e < 2e-4, `${dev.kind}: max error ${e}`);
    // Streaming heads hold sinks + window tokens per row at the end, full heads all 11.
    assert.deepEqual(cache.bytesPerHead(0), [11, 4, 4].map((n) => n * 2 * 4 * 4 * 2));
    cache.dispose();
  }
});

test('the gradient reaching α through the mixed model matches central finite differences (CPU)', async () => {
  const dev = cpuDevice();
  const model = randomModel(cfg, 8, dev);
  const rows = rowsOf(new Rng(9), 2, 9);
  const spec = { sinks: 1, window: 2 };
  const ref = await noGrad(() => scope(async () => Float32Array.from(await (await model.run(rows)).data())));
  const base = [0.3, 0.6, 0.5, 0.2, 0.8, 0.4];
  const lossAt = async (alpha: number[]): Promise<number> => noGrad(() => scope(async () => {
    const y = await model.run(rows, { hooks: duoAttention.duoHooks(model, (l) => alpha.slice(l * 3, l * 3 + 3), spec) });
    return sum(square(sub(y, tensor(ref, y.shape, { device: dev })))).item();
  }));
  const gates = new HeadGates({ layers: 2, heads: 3, init: base, device: dev });
  const frozen = (await import('../src/index.js')).freeze(model);
  const y: Tensor = await model.run(rows, { hooks: duoAttention.duoHooks(model, (l) => gates.layer(l), spec), grad: true });
  sum(square(sub(y, tensor(ref, y.shape, { device: dev })))).backward();
  const grad = await gates.param.grad!.data();
  frozen.unfreeze();
  const eps = 1e-2;
  for (let i = 0; i < 6; i++) {
    const up = base.slice();
    up[i]! += eps;
    const dn = base.slice();
    dn[i]! -= eps;
    const fd = ((await lossAt(up)) - (await lossAt(dn))) / (2 * eps);
    assert.ok(Math.abs(fd - grad[i]!) <= 2e-3 + 2e-2 * Math.abs(fd), `gate ${i}: autograd ${grad[i]} vs finite difference ${fd}`);
  }
});

test('trainDuoGates keeps α in [0, 1], leaves the model trainable afterwards, and the L1 push lowers gates of heads the task does not need', async () => {
  const model = randomModel({ ...cfg, nCtx: 24 }, 10, cpuDevice());
  const task = passkey({ vocabSize: 9, seqLen: 24, keyLen: 2, digits: 3 });
  const seen: number[] = [];
  const r = await duoAttention.trainDuoGates(model, { task, steps: 6, batchSize: 4, sinks: 1, window: 3, lr: 0.1, lambda: 1, onStep: ({ loss }) => void seen.push(loss) });
  assert.equal(seen.length, 6);
  assert.ok(r.alpha.every((a) => a >= 0 && a <= 1));
  assert.ok(r.alpha.some((a) => a < 1), `gates ${Array.from(r.alpha)}`);
  assert.ok(model.parameters().every((p) => p.requiresGrad));
  await assert.rejects(duoAttention.trainDuoGates(model, { task, steps: 0, batchSize: 4, sinks: 1, window: 3 }), /steps must be a positive integer, got 0/);
  await assert.rejects(duoAttention.trainDuoGates(model, { task, steps: 1, batchSize: 4, sinks: 1, window: 0 }), /window >= 1/);
  r.gates.dispose();
});

test('rankByAlpha, retrievalSet, bimodality and bad gates', () => {
  assert.deepEqual(duoAttention.rankByAlpha([0.2, 0.9, 0.9, 0.1], 2).map((h) => [h.layer, h.head]), [[0, 1], [1, 0], [0, 0], [1, 1]]);
  assert.throws(() => duoAttention.rankByAlpha([1, 2, 3], 2), /3 gates do not split into rows of 2 heads/);
  const two = duoAttention.bimodality([0, 0.02, 0.01, 0.97, 1, 0, 0.99, 0.03, 0, 0.01, 0, 0.02, 0, 0, 1, 0.04]);
  const flat = duoAttention.bimodality(Array.from({ length: 16 }, (_, i) => (i + 0.5) / 16));
  assert.equal(two.nearEnds, 1);
  assert.ok(two.coefficient > 5 / 9 && flat.coefficient < 5 / 9, `${two.coefficient} vs ${flat.coefficient}`);
  assert.throws(() => duoAttention.bimodality([1, 0]), /at least 4 gates/);
  const model = randomModel(cfg, 1, cpuDevice());
  assert.throws(() => duoAttention.duoHooks(model, () => [1, 1, 1], { sinks: -1, window: 2 }), /sinks >= 0 and window >= 1/);
});
