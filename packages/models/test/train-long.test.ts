// Long training runs: checkpoints that resume bit-identically (in process and through
// scripts/train-checkpoint.mjs), evaluation callbacks with early stopping, data-parallel workers,
// natural-text tasks and the terminal progress line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, scope } from '@attnlab/tensor';
import { assignOwners } from '../src/train-shard.js';
import {
  CharTokenizer, Transformer, formatDuration, loadTrainCheckpoint, progressText, saveTrainCheckpoint, stopTrainingWorkers, tasks, textTask, train,
  type Task, type TrainState,
} from '../src/index.js';

const cfg = { vocabSize: 16, dModel: 16, nLayers: 1, nHeads: 2, dMlp: 32, nCtx: 16 };
const task = tasks.copy({ vocabSize: 16, len: 5 });
const opts = { steps: 8, batchSize: 6, lr: 1e-2, seed: 4, warmupSteps: 2 };

async function weights(m: Transformer): Promise<Map<string, Float32Array>> {
  return new Map([...(await m.stateDict())].map(([n, p]) => [n, p.data]));
}

test('a run resumed from a checkpoint on disk gives bit-identical weights and losses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'attnlab-resume-'));
  try {
    const a = new Transformer(cfg, { seed: 1 });
    let saved: TrainState | null = null;
    const full = await train(a, task, {
      ...opts, checkpointEvery: 3,
      onCheckpoint: async (s) => {
        if (s.step === 3) {
          saved = s;
          await saveTrainCheckpoint(dir, a, s);
        }
      },
      evalEvery: 2, onEval: ({ step }) => step,
    });
    assert.ok(saved, 'a checkpoint was taken at step 3');
    // A differently initialised model: everything must come from the checkpoint.
    const b = new Transformer(cfg, { seed: 99 });
    const state = await loadTrainCheckpoint(dir, b);
    assert.equal(state.step, 3);
    const resumed = await train(b, task, { ...opts, checkpointEvery: 3, resume: state, evalEvery: 2, onEval: ({ step }) => step });
    assert.deepEqual(resumed.losses, full.losses, 'losses');
    assert.deepEqual(resumed.evals, full.evals, 'evaluations');
    const wa = await weights(a);
    const wb = await weights(b);
    for (const [n, v] of wa) assert.deepEqual(wb.get(n), v, `parameter ${n}`);
    // Without the optimizer state and generator the run differs: the test can see a bad resume.
    const c = new Transformer(cfg, { seed: 99 });
    await loadTrainCheckpoint(dir, c);
    const naive = await train(c, task, { ...opts, resume: { ...state, rng: new Rng(4).getState() } });
    assert.notDeepEqual(naive.losses, full.losses);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadTrainCheckpoint names a missing file and a model that does not match', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'attnlab-resume-'));
  try {
    await assert.rejects(loadTrainCheckpoint(dir, new Transformer(cfg)), /state\.json/);
    const m = new Transformer(cfg, { seed: 1 });
    await train(m, task, { ...opts, steps: 2, checkpointEvery: 2, onCheckpoint: (s) => saveTrainCheckpoint(dir, m, s) });
    await assert.rejects(loadTrainCheckpoint(dir, new Transformer({ ...cfg, nLayers: 2 })), /parameters that differ/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('evaluation callbacks run every N steps and early stopping ends the run on a stalled metric', async () => {
  const m = new Transformer(cfg, { seed: 1 });
  const metrics = [1.0, 0.5, 0.6, 0.7, 0.4];
  let i = 0;
  const r = await train(m, task, { ...opts, steps: 20, evalEvery: 2, onEval: () => metrics[i++]!, earlyStopping: { patience: 2 } });
  assert.deepEqual(r.evals.map((e) => e.step), [2, 4, 6, 8]);
  assert.equal(r.stoppedEarly, true);
  assert.equal(r.steps, 8);
  assert.equal(r.losses.length, 8);
  await assert.rejects(train(m, task, { ...opts, earlyStopping: { patience: 2 } }), /needs onEval/);
  await assert.rejects(train(m, task, { ...opts, evalEvery: 0, onEval: () => 0 }), /evalEvery must be a positive integer/);
});

test('data-parallel training on 2 threads matches 1 thread and is deterministic', async () => {
  const run = async (workers: number): Promise<{ losses: number[]; w: Map<string, Float32Array> }> => {
    const m = new Transformer(cfg, { seed: 1 });
    const r = await train(m, task, { ...opts, batchSize: 7, workers });
    return { losses: r.losses, w: await weights(m) };
  };
  const one = await run(1);
  const two = await run(2);
  const again = await run(2);
  assert.deepEqual(again.losses, two.losses, 'deterministic for a worker count');
  for (const [n, v] of two.w) assert.deepEqual(again.w.get(n), v, `parameter ${n} (2 workers, twice)`);
  two.losses.forEach((l, i) => assert.ok(Math.abs(l - one.losses[i]!) < 1e-4, `step ${i}: loss ${l} on 2 threads vs ${one.losses[i]} on 1`));
  for (const [n, v] of one.w) {
    const u = two.w.get(n)!;
    for (let j = 0; j < v.length; j++) assert.ok(Math.abs(u[j]! - v[j]!) < 1e-4, `parameter ${n}[${j}]: ${u[j]} vs ${v[j]}`);
  }
  await assert.rejects(train(new Transformer(cfg), task, { ...opts, workers: 0 }), /workers must be a positive integer/);
});

test('data-parallel steps split the reduction and AdamW by parameter: 3 threads, a batch smaller than the threads, clip off', async () => {
  // Each thread owns a contiguous run of parameters of about equal size (none owns everything).
  assert.deepEqual(assignOwners([10, 10, 10, 10], 2), [0, 0, 1, 1]);
  assert.deepEqual(assignOwners([100, 1, 1, 1], 2), [0, 1, 1, 1]);
  assert.deepEqual(assignOwners([1, 1, 100], 3), [0, 1, 2]);
  const m0 = new Transformer(cfg, { seed: 1 });
  const sizes = m0.parameters().map((p) => p.size);
  for (const threads of [2, 3]) {
    const owner = assignOwners(sizes, threads);
    const share = Array.from({ length: threads }, (_, t) => sizes.reduce((s, n, i) => s + (owner[i] === t ? n : 0), 0));
    const total = sizes.reduce((s, n) => s + n, 0);
    assert.ok(share.every((n) => n > 0 && n < total * 0.75), `${threads} threads own ${share.join('/')} of ${total}`);
  }
  // Summation order differs from one thread's (per-thread partial gradients, float64 squares in the
  // norm), so the comparison with 1 thread allows 1e-4; a thread count is bit-identical run to run.
  for (const [workers, batchSize, clip] of [[3, 7, 1], [3, 2, 1], [2, 5, 0]] as const) {
    const run = async (w: number): Promise<{ losses: number[]; w: Map<string, Float32Array> }> => {
      const m = new Transformer(cfg, { seed: 1 });
      const r = await train(m, task, { ...opts, batchSize, clip, workers: w });
      await stopTrainingWorkers(m);
      return { losses: r.losses, w: await weights(m) };
    };
    const one = await run(1);
    const many = await run(workers);
    const again = await run(workers);
    assert.deepEqual(again.losses, many.losses, `${workers} threads, batch ${batchSize}: deterministic`);
    for (const [n, v] of many.w) assert.deepEqual(again.w.get(n), v, `parameter ${n} (${workers} threads, twice)`);
    many.losses.forEach((l, i) => assert.ok(Math.abs(l - one.losses[i]!) < 1e-4, `${workers} threads, batch ${batchSize}, step ${i}: loss ${l} vs ${one.losses[i]}`));
    for (const [n, v] of one.w) {
      const u = many.w.get(n)!;
      for (let j = 0; j < v.length; j++) assert.ok(Math.abs(u[j]! - v[j]!) < 1e-4, `${workers} threads, batch ${batchSize}: parameter ${n}[${j}]: ${u[j]} vs ${v[j]}`);
    }
  }
});

test('a data-parallel run resumed from a checkpoint (moments gathered from every thread) gives bit-identical weights', async () => {
  const a = new Transformer(cfg, { seed: 1 });
  const at3: { state?: TrainState; weights?: Map<string, Float32Array> } = {};
  const full = await train(a, task, {
    ...opts, batchSize: 7, workers: 2, checkpointEvery: 3,
    onCheckpoint: async (s) => {
      if (s.step !== 3) return;
      at3.state = s;
      at3.weights = await weights(a);
    },
  });
  await stopTrainingWorkers(a);
  const { state, weights: weightsAt3 } = at3;
  assert.ok(state && weightsAt3, 'a checkpoint was taken at step 3');
  // Every parameter has moments after 3 steps, whichever thread updated it.
  assert.equal(state.optimizer.moments.length, a.parameters().length);
  assert.ok(state.optimizer.moments.every((mv) => mv !== null && mv.m.some((x) => x !== 0)), 'moments from every thread');
  const b = new Transformer(cfg, { seed: 99 });
  b.loadStateDict(new Map([...weightsAt3].map(([n, d]) => [n, { data: d, shape: a.param(n).shape }])));
  const resumed = await train(b, task, { ...opts, batchSize: 7, workers: 2, resume: state });
  await stopTrainingWorkers(b);
  assert.deepEqual(resumed.losses, full.losses, 'losses');
  const wa = await weights(a);
  const wb = await weights(b);
  for (const [n, v] of wa) assert.deepEqual(wb.get(n), v, `parameter ${n}`);
  // The moments matter: resuming without them differs (the test can see a bad gather).
  const c = new Transformer(cfg, { seed: 99 });
  c.loadStateDict(new Map([...weightsAt3].map(([n, d]) => [n, { data: d, shape: a.param(n).shape }])));
  const zeroed = { ...state, optimizer: { ...state.optimizer, moments: state.optimizer.moments.map((mv) => mv && { m: new Float32Array(mv.m.length), v: new Float32Array(mv.v.length) }) } };
  const naive = await train(c, task, { ...opts, batchSize: 7, workers: 2, resume: zeroed });
  await stopTrainingWorkers(c);
  assert.notDeepEqual(naive.losses, full.losses);
});

test('a worker that fails mid-step names its error, releases the other threads and the next run starts fresh workers', async () => {
  // Rows of the second half carry a token past the vocabulary: only the worker's forward fails.
  const bad: Task = {
    ...task, name: 'bad-rows', sample: (rng, batchSize) => {
      const b = task.sample(rng, batchSize);
      b.tokens[b.tokens.length - 1] = 1000;
      return b;
    },
  };
  const m = new Transformer(cfg, { seed: 1 });
  const before = await weights(m);
  await assert.rejects(train(m, bad, { ...opts, batchSize: 6, workers: 3 }), (e: Error) => {
    assert.match(e.message, /worker 2/);
    assert.match(e.message, /1000/);
    return true;
  });
  // The barrier gave way before anyone updated: the weights are untouched.
  for (const [n, v] of before) assert.deepEqual((await weights(m)).get(n), v, `parameter ${n}`);
  const r = await train(m, task, { ...opts, steps: 2, batchSize: 6, workers: 3 });
  assert.equal(r.losses.length, 2);
  await stopTrainingWorkers(m);
});

test('workers started inside a scope keep their shared gradient tensors for the next train() call', async () => {
  const m = new Transformer(cfg, { seed: 1 });
  const a = await scope(() => train(m, task, { ...opts, steps: 2, workers: 2 }));
  const b = await train(m, task, { ...opts, steps: 2, seed: 9, workers: 2 });
  await stopTrainingWorkers(m);
  assert.equal(a.losses.length + b.losses.length, 4);
  assert.ok(b.losses.every(Number.isFinite));
});

test('data-parallel workers are kept warm between train() calls and rebuilt when the parameters are replaced', async () => {
  const twice = async (swap: boolean): Promise<number[]> => {
    const m = new Transformer(cfg, { seed: 1 });
    const a = await train(m, task, { ...opts, steps: 3, workers: 2 });
    if (swap) m.loadStateDict(await m.stateDict()); // same values, new tensors: the old pool no longer views them
    const b = await train(m, task, { ...opts, steps: 3, seed: 9, workers: 2 });
    await stopTrainingWorkers(m);
    return [...a.losses, ...b.losses];
  };
  assert.deepEqual(await twice(true), await twice(false));
});

test('textTask cuts random windows of a token stream; every position predicts the next token', () => {
  const text = 'abcdefghij'.repeat(3);
  const tok = CharTokenizer.fromText(text);
  const ids = tok.encode(text);
  const t = textTask({ tokens: ids, vocabSize: tok.vocabSize, seqLen: 5, tokenizer: tok });
  const b = t.sample(new Rng(1), 4);
  for (let r = 0; r < 4; r++) {
    const row = Array.from(b.tokens.subarray(r * 5, r * 5 + 5));
    const tgt = Array.from(b.targets.subarray(r * 5, r * 5 + 5));
    const s = ids.indexOf(row[0]!);
    assert.ok(s >= 0);
    assert.deepEqual(tgt.slice(0, 4), row.slice(1), 'targets are the tokens shifted by one');
    assert.equal(tok.decode(row) + tok.decode([tgt[4]!]), tok.decode([...row, tgt[4]!]));
  }
  assert.ok(b.lossMask.every((x) => x === 1));
  assert.throws(() => textTask({ tokens: [0, 1], vocabSize: 2, seqLen: 5 }), /at least 6/);
  assert.throws(() => textTask({ tokens: [0, 1, 7, 1, 0, 1, 0], vocabSize: 2, seqLen: 3 }), /token 7 at position 2/);
});

test('progress line text: steps/s, loss and eta', () => {
  assert.equal(progressText(50, 200, 2.5, 1.23456), 'step 50/200 | 2.50 steps/s | loss 1.2346 | eta 1:00');
  assert.equal(formatDuration(3725), '1:02:05');
  assert.equal(formatDuration(NaN), '--');
});

test('train-checkpoint.mjs: an interrupted run resumed with --resume ends bit-identical; text files train through --data', () => {
  const script = fileURLToPath(new URL('../../scripts/train-checkpoint.mjs', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'attnlab-recipe-'));
  const node = (args: string[]): string => {
    const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, `train-checkpoint.mjs ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  try {
    const common = ['mqar-softmax', '--steps', '4', '--batch', '4', '--checkpoint-every', '2', '--eval-every', '2', '--set', 'model.nLayers=1'];
    node([...common, '--out', join(dir, 'a')]);
    assert.match(node([...common, '--stop-after', '2', '--out', join(dir, 'b')]), /stopped after step 2/);
    assert.match(node([...common, '--resume', '--out', join(dir, 'b')]), /resuming from step 2/);
    assert.deepEqual(readFileSync(join(dir, 'b', 'model.safetensors')), readFileSync(join(dir, 'a', 'model.safetensors')));
    const metrics = JSON.parse(readFileSync(join(dir, 'b', 'metrics.json'), 'utf8'));
    assert.equal(metrics.train.resumedFrom, 2);
    const text = join(dir, 'corpus.txt');
    writeFileSync(text, 'the cat sat on the mat. '.repeat(20));
    for (const tok of ['char', 'bpe:16']) {
      node(['grammar-4l', '--data', text, '--tokenizer', tok, '--seq', '16', '--steps', '2', '--batch', '2', '--out', join(dir, tok.replace(':', ''))]);
      const m = JSON.parse(readFileSync(join(dir, tok.replace(':', ''), 'metrics.json'), 'utf8'));
      assert.equal(m.task.tokenizer, tok);
      assert.ok(Number.isFinite(m.eval.nll));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
