import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, cpuDevice } from '@attnlab/tensor';
import { Transformer, evaluate, tasks, train } from '../src/index.js';
import { webgpuOrNull } from './helpers.js';

const small = { vocabSize: 16, dModel: 16, nLayers: 1, nHeads: 2, nCtx: 16 };

test('training is deterministic for a seed and lowers the loss', async () => {
  const task = tasks.copy({ vocabSize: 16, len: 5 });
  const run = async (seed: number): Promise<number[]> => {
    const m = new Transformer(small, { seed: 1 });
    return (await train(m, task, { steps: 30, batchSize: 8, lr: 1e-2, seed })).losses;
  };
  const a = await run(5);
  const b = await run(5);
  const c = await run(6);
  assert.deepEqual(a, b, 'same seed, same losses');
  assert.notDeepEqual(a, c, 'different seed, different batches');
  const avg = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(avg(a.slice(-5)) < avg(a.slice(0, 5)) - 0.1, `loss went from ${avg(a.slice(0, 5))} to ${avg(a.slice(-5))}`);
});

test('training on WebGPU follows the CPU run step by step and is deterministic there', async (t) => {
  const { device, why } = await webgpuOrNull();
  if (!device) {
    t.skip(`no WebGPU device: ${why}`);
    return;
  }
  const task = tasks.induction({ vocabSize: 16, len: 5 });
  const run = async (dev: typeof device): Promise<number[]> => {
    const m = new Transformer({ ...small, nLayers: 2 }, { seed: 3, device: dev });
    return (await train(m, task, { steps: 6, batchSize: 4, lr: 1e-2, seed: 9 })).losses;
  };
  const cpu = await run(cpuDevice());
  const gpu = await run(device);
  assert.deepEqual(await run(device), gpu, 'same seed on WebGPU, same losses');
  // Six AdamW steps compound float32 rounding differences; 1e-3 relative is far below any real bug.
  cpu.forEach((l, i) => assert.ok(Math.abs(l - gpu[i]!) <= 1e-3 * Math.abs(l), `step ${i}: cpu ${l} webgpu ${gpu[i]}`));
});

test('onStep reports progress; bad options are errors', async () => {
  const m = new Transformer(small, { seed: 2 });
  const seen: number[] = [];
  await train(m, tasks.induction({ vocabSize: 16, len: 4 }), { steps: 3, batchSize: 4, lr: 1e-3, onStep: (s) => void seen.push(s.step) });
  assert.deepEqual(seen, [0, 1, 2]);
  await assert.rejects(train(m, tasks.induction({ vocabSize: 32, len: 4 }), { steps: 1, batchSize: 1, lr: 1 }), /uses 32 tokens, the model has 16/);
  await assert.rejects(train(m, tasks.induction({ vocabSize: 16, len: 9 }), { steps: 1, batchSize: 1, lr: 1 }), /exceed the model context 16/);
});

test('tasks: shapes, masks and targets follow their definitions', () => {
  const rng = new Rng(3);
  const ind = tasks.induction({ vocabSize: 20, len: 5 }).sample(rng, 2);
  assert.equal(ind.seqLen, 11);
  for (let r = 0; r < 2; r++) {
    const row = Array.from(ind.tokens.subarray(r * 11, r * 11 + 11));
    assert.equal(row[0], 0);
    assert.deepEqual(row.slice(1, 6), row.slice(6, 11));
    assert.equal(new Set(row.slice(1, 6)).size, 5, 'distinct segment');
    assert.deepEqual(Array.from(ind.evalMask.subarray(r * 11, r * 11 + 11)), [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0]);
  }
  // Variable segment length: the repeat distance changes row to row; only repeated tokens are scored.
  const v = tasks.induction({ vocabSize: 40, len: 8, minLen: 3 }).sample(rng, 64);
  const lengths = new Set<number>();
  for (let r = 0; r < 64; r++) {
    const row = Array.from(v.tokens.subarray(r * 17, r * 17 + 17));
    const mask = Array.from(v.evalMask.subarray(r * 17, r * 17 + 17));
    const l = mask.reduce((a, b) => a + b, 0) + 1;
    lengths.add(l);
    assert.ok(l >= 3 && l <= 8);
    assert.deepEqual(row.slice(1, 1 + l), row.slice(1 + l, 1 + 2 * l), `row ${r} repeats its segment of ${l}`);
    assert.deepEqual(mask, Array.from({ length: 17 }, (_, i) => (i >= l + 1 && i < 2 * l ? 1 : 0)));
  }
  assert.ok(lengths.size >= 5, `segment lengths vary: ${[...lengths]}`);
  assert.throws(() => tasks.induction({ len: 8, minLen: 9 }), /minLen must be in \[2, len=8\]/);
  const mq = tasks.mqar({ vocabSize: 32, numKV: 4, seqLen: 20 }).sample(rng, 3);
  for (let r = 0; r < 3; r++) {
    const t = Array.from(mq.tokens.subarray(r * 20, r * 20 + 20));
    const kv = new Map<number, number>();
    for (let i = 0; i < 4; i++) {
      assert.ok(t[2 * i]! >= 1 && t[2 * i]! < 16, 'key vocabulary');
      assert.ok(t[2 * i + 1]! >= 16, 'value vocabulary');
      kv.set(t[2 * i]!, t[2 * i + 1]!);
    }
    let q = 0;
    for (let i = 8; i < 20; i++) {
      if (mq.evalMask[r * 20 + i]) {
        q++;
        assert.equal(mq.targets[r * 20 + i], kv.get(t[i]!), 'query answers its key\'s value');
      } else assert.equal(t[i], 0);
    }
    assert.equal(q, 4);
  }
  // A mixture of pair counts (Zoology trains on one): rows hold 1..4 pairs, queries only their own keys.
  const mix = tasks.mqar({ vocabSize: 32, numKV: 4, seqLen: 20, minNumKV: 1 }).sample(rng, 64);
  const counts = new Set<number>();
  for (let r = 0; r < 64; r++) {
    const t = Array.from(mix.tokens.subarray(r * 20, r * 20 + 20));
    let pairs = 0;
    while (pairs < 4 && t[2 * pairs]! !== 0) pairs++;
    counts.add(pairs);
    const keys = new Set(Array.from({ length: pairs }, (_, i) => t[2 * i]!));
    let asked = 0;
    for (let i = 8; i < 20; i++) if (mix.evalMask[r * 20 + i]) {
      asked++;
      assert.ok(keys.has(t[i]!), 'a query asks a key of its own row');
    }
    assert.equal(asked, pairs);
  }
  assert.deepEqual([...counts].sort(), [1, 2, 3, 4]);
  assert.throws(() => tasks.mqar({ numKV: 4, minNumKV: 5 }), /minNumKV must be an integer in \[1, 4\]/);
  const pk = tasks.passkey({ vocabSize: 32, seqLen: 24, keyLen: 3 }).sample(rng, 1);
  const row = Array.from(pk.tokens);
  const at = row.indexOf(1);
  assert.deepEqual(row.slice(at + 1, at + 4), row.slice(21, 24));
  assert.equal(row[20], 2);
  const g = tasks.grammar({ seqLen: 32 });
  const gb = g.sample(rng, 2);
  assert.equal(gb.tokens[0], 0);
  assert.ok(Array.from(gb.tokens).every((x) => x < g.vocabSize));
  assert.equal(g.tokenName!(gb.tokens[1]!).length > 0, true);
});

test('evaluate reports accuracy and NLL by position', async () => {
  const m = new Transformer(small, { seed: 3 });
  const task = tasks.induction({ vocabSize: 16, len: 4 });
  const ev = await evaluate(m, task, { batches: 2, batchSize: 4 });
  assert.equal(ev.accuracyByPosition.length, 9);
  assert.equal(ev.accuracyByPosition[0], null);
  assert.equal(ev.scored, 2 * 4 * 3);
  assert.ok(ev.nll > 2 && ev.nll < 4, `untrained nll ${ev.nll} near log(16)`);
});
