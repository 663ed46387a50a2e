// Bench suite `npm run bench -- train`: CPU training throughput of two recipes in attnlab and in
// PyTorch (Debian's python3-torch, /usr/bin/python3) in the same run, at 1 and 2 threads.
//   mqar-softmax: 2 layers, d 64, 4 heads, MLP 128, seq 40, batch 16, AdamW (learned positions)
//   lm:           4 layers, d 128, 4 heads, MLP 512, seq 256, batch 8, vocab 48 (rotary; grammar-4l
//                 with overrides)
// Also recorded: the CPU device's own matmul GFLOP/s at n = 1024, the LM's model FLOP utilisation
// against it, and the WebGPU training step's dispatches per step (SwiftShader here: its speed is
// irrelevant, the count lets a real GPU run be judged). Figures come in two forms: wall-clock
// tokens/s, and tokens per second of process CPU time, which holds up on a shared, loaded machine
// for one-thread comparisons (the two-thread speedup needs wall clock and free cores).
// attnlab's 1- and 2-thread runs alternate over several rounds (1 then 2, then 2 then 1, ...) on
// two warm models, so drift in the host's speed hits both alike; each record gives the median
// over rounds and every round's figure, and the two-thread speedup is the median of the rounds'
// ratios. A round's CPU ms per step shows whether the second thread got a core of its own.
// ATTNLAB_BENCH_STEPS=<x> scales the steps per round (default: 20 MQAR, 4 LM);
// ATTNLAB_BENCH_ROUNDS=<n> sets the rounds (default 7: an odd count has a middle round).
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuDevice, getDevice, matmul, randn } from '@attnlab/tensor';
import { Transformer, stopTrainingWorkers, tasks, train } from '@attnlab/models';

const here = dirname(fileURLToPath(import.meta.url));
const torchScript = join(here, '..', 'lib', 'torch_train.py');
const scale = Number(process.env.ATTNLAB_BENCH_STEPS ?? 1);
const rounds = Math.max(1, Math.round(Number(process.env.ATTNLAB_BENCH_ROUNDS ?? 7)));

const recipes = {
  'mqar-softmax': {
    task: () => tasks.mqar({ vocabSize: 64, numKV: 8, seqLen: 40 }),
    model: { vocabSize: 64, dModel: 64, nLayers: 2, nHeads: 4, attnOnly: false, dMlp: 128, nCtx: 40, positional: 'learned', norm: 'layernorm' },
    batch: 16, seq: 40, steps: 20, warmup: 3,
  },
  lm: {
    task: () => tasks.grammar({ seqLen: 256 }),
    model: { vocabSize: 48, dModel: 128, nLayers: 4, nHeads: 4, attnOnly: false, dMlp: 512, nCtx: 256, positional: 'rotary', norm: 'layernorm' },
    batch: 8, seq: 256, steps: 4, warmup: 2, torchSteps: 3,
  },
};

/**
 * Model FLOPs per token of a training step (forward + backward = 3x forward), counting every
 * matmul as PyTorch runs it: QKV, output, MLP and unembedding projections plus the full
 * (unmasked) QKᵀ and PV products.
 */
export function flopsPerToken(m, seq) {
  const d = m.dModel;
  const perLayer = 2 * (d * 3 * d + d * d + 2 * d * m.dMlp) + 2 * 2 * seq * d;
  return 3 * (m.nLayers * perLayer + 2 * d * m.vocabSize);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * attnlab at 1 and 2 threads, interleaved over `rounds` rounds on two warm models (the worker
 * pool stays up between train() calls). Returns per thread count the rounds' figures.
 */
async function attnlabRounds(r) {
  const steps = Math.max(1, Math.round(r.steps * scale));
  const task = r.task();
  const models = {};
  for (const workers of [1, 2]) {
    models[workers] = new Transformer(r.model, { seed: 1, device: cpuDevice() });
    await train(models[workers], task, { steps: r.warmup, batchSize: r.batch, lr: 1e-3, seed: 1, workers, progressLine: false });
  }
  const out = { 1: [], 2: [] };
  for (let i = 0; i < rounds; i++) {
    for (const workers of i % 2 ? [2, 1] : [1, 2]) {
      const c0 = process.cpuUsage();
      const res = await train(models[workers], task, { steps, batchSize: r.batch, lr: 1e-3, seed: 2 + i, workers, progressLine: false });
      const cu = process.cpuUsage(c0);
      const cpuS = (cu.user + cu.system) / 1e6;
      out[workers].push({ tokensPerSecond: res.tokensPerSecond, cpuTokensPerSecond: res.tokens / cpuS, msPerStep: (1000 * res.seconds) / steps, cpuMsPerStep: (1000 * cpuS) / steps });
    }
  }
  await stopTrainingWorkers(models[2]);
  const summary = (xs) => ({
    tokensPerSecond: median(xs.map((x) => x.tokensPerSecond)), cpuTokensPerSecond: median(xs.map((x) => x.cpuTokensPerSecond)),
    msPerStep: median(xs.map((x) => x.msPerStep)), cpuMsPerStep: median(xs.map((x) => x.cpuMsPerStep)), rounds: xs,
  });
  return { steps, 1: summary(out[1]), 2: summary(out[2]) };
}

function torchAvailable() {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr || r.error?.message || 'import torch failed').trim().split('\n').at(-1);
}

function torchRun(r, threads) {
  const steps = Math.max(1, Math.round((r.torchSteps ?? r.steps) * scale));
  const m = r.model;
  const spec = { layers: m.nLayers, d: m.dModel, heads: m.nHeads, mlp: m.dMlp, seq: r.seq, batch: r.batch, vocab: m.vocabSize, positional: m.positional, threads, steps, warmup: r.warmup };
  const p = spawnSync('/usr/bin/python3', [torchScript, JSON.stringify(spec)], { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`torch_train.py failed: ${p.stderr}`);
  return JSON.parse(p.stdout.trim().split('\n').at(-1));
}

/** The CPU device's matmul rate at n = 1024 (float32 in, float32 out), best of 3. */
function matmulRate() {
  const n = 1024;
  const dev = cpuDevice();
  const a = randn([n, n], { device: dev, seed: 1 });
  const b = randn([n, n], { device: dev, seed: 2 });
  matmul(a, b).dispose();
  let best = Infinity;
  let bestCpu = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    matmul(a, b).dispose();
    const cu = process.cpuUsage(c0);
    best = Math.min(best, (performance.now() - t0) / 1000);
    bestCpu = Math.min(bestCpu, (cu.user + cu.system) / 1e6);
  }
  a.dispose();
  b.dispose();
  const flops = 2 * n * n * n;
  return { gflops: flops / best / 1e9, cpuGflops: flops / bestCpu / 1e9 };
}

/**
 * Dispatches per training step on WebGPU: tensor kernels (the backend's counter) and all passes.
 * `batch` overrides the recipe's batch (the count does not depend on it; the MQAR records show both).
 */
async function webgpuDispatches(r, batch = r.batch) {
  const dev = await getDevice({ prefer: 'webgpu' });
  const be = dev.backend;
  // Count every compute pass's dispatch (attention kernels encode their own passes).
  const enc = be.gpu.createCommandEncoder();
  const pass = enc.beginComputePass();
  const proto = Object.getPrototypeOf(pass);
  pass.end();
  enc.finish();
  const original = proto.dispatchWorkgroups;
  let all = 0;
  proto.dispatchWorkgroups = function (...args) {
    all++;
    return original.apply(this, args);
  };
  try {
    // One counted step: pipelines compiled on the way do not change the number of dispatches.
    const task = r.task();
    const model = new Transformer(r.model, { seed: 1, device: dev });
    const steps = 1;
    const t0 = be.dispatches;
    const a0 = all;
    const t = performance.now();
    await train(model, task, { steps, batchSize: batch, lr: 1e-3, seed: 2, progressLine: false });
    return { adapter: dev.adapter, tensorDispatchesPerStep: (be.dispatches - t0) / steps, dispatchesPerStep: (all - a0) / steps, msFirstStep: (performance.now() - t) / steps };
  } finally {
    proto.dispatchWorkgroups = original;
  }
}

const round = (x, d = 1) => (Number.isFinite(x) ? +x.toFixed(d) : x);

export async function run() {
  const load = loadavg().map((x) => +x.toFixed(2));
  const cpuAdapter = cpuDevice().adapter;
  const records = [];
  // Each record is printed as it is made, so a long run's figures survive an interruption.
  const log = (rec) => {
    records.push(rec);
    console.log(`train bench: ${JSON.stringify(rec)}`);
  };
  const mm = matmulRate();
  log({ name: 'CPU device matmul n=1024', adapter: cpuAdapter, threads: 1, gflops: round(mm.gflops, 2), cpuGflops: round(mm.cpuGflops, 2), loadAverage: load });
  const noTorch = torchAvailable();
  for (const [name, r] of Object.entries(recipes)) {
    const fpt = flopsPerToken(r.model, r.seq);
    const ours = await attnlabRounds(r);
    const theirs = {};
    for (const threads of [1, 2]) {
      theirs[threads] = noTorch ? null : torchRun(r, threads);
      const o = ours[threads];
      const t = theirs[threads];
      log({
        name: `${name} training`, adapter: cpuAdapter, threads, batch: r.batch, seq: r.seq, rounds, stepsPerRound: ours.steps,
        // Medians over the rounds; every round's tokens/s follows.
        attnlabTokensPerSecond: round(o.tokensPerSecond), attnlabRoundsTokensPerSecond: o.rounds.map((x) => round(x.tokensPerSecond)), attnlabCpuTokensPerSecond: round(o.cpuTokensPerSecond), attnlabMsPerStep: round(o.msPerStep),
        pytorchTokensPerSecond: t ? round(t.tokensPerSecond) : 'not available', pytorchCpuTokensPerSecond: t ? round(t.cpuTokensPerSecond) : 'not available',
        ratio: t ? round(o.tokensPerSecond / t.tokensPerSecond, 2) : 'not available',
        cpuTimeRatio: t ? round(o.cpuTokensPerSecond / t.cpuTokensPerSecond, 2) : 'not available',
        mflopsPerToken: round(fpt / 1e6, 2),
        // Model FLOP utilisation against the one-thread matmul rate: one-thread runs only.
        mfu: threads === 1 ? round((fpt * o.tokensPerSecond) / 1e9 / mm.gflops, 3) : undefined,
        cpuMfu: threads === 1 ? round((fpt * o.cpuTokensPerSecond) / 1e9 / mm.cpuGflops, 3) : undefined,
        ...(noTorch ? { pytorch: `not available: ${noTorch}` } : { pytorch: `torch ${t.torch}` }),
        loadAverage: loadavg().map((x) => +x.toFixed(2)),
      });
    }
    // Round i's ratio compares the two runs made back to back in that round.
    const ratios = ours[1].rounds.map((one, i) => ours[2].rounds[i].tokensPerSecond / one.tokensPerSecond);
    log({
      name: `${name} two-thread speedup`, adapter: cpuAdapter, rounds, stepsPerRound: ours.steps,
      attnlab: round(median(ratios), 2),
      attnlabRounds: ratios.map((x) => round(x, 2)),
      // CPU time per step of all threads together: 1 thread / 2 threads near 1 means the work is
      // split, not duplicated; with both cores free the speedup is about 2x that ratio. A 2-thread
      // figure far above the 1-thread one means the threads slowed each other (no core of their own).
      attnlabCpuMsPerStep: { 1: round(ours[1].cpuMsPerStep), 2: round(ours[2].cpuMsPerStep) },
      attnlabRoundsCpuMsPerStep: ours[1].rounds.map((one, i) => [round(one.cpuMsPerStep), round(ours[2].rounds[i].cpuMsPerStep)]),
      attnlabSpeedupIfCoresFree: round((2 * ours[1].cpuMsPerStep) / ours[2].cpuMsPerStep, 2),
      pytorch: theirs[1] ? round(theirs[2].tokensPerSecond / theirs[1].tokensPerSecond, 2) : 'not available',
      loadAverage: loadavg().map((x) => +x.toFixed(2)),
    });
  }
  // SwiftShader is slow: the LM step is counted at batch 1 (the MQAR records show the count does not change with the batch).
  const gpuRuns = [['mqar-softmax', recipes['mqar-softmax'], recipes['mqar-softmax'].batch], ['mqar-softmax', recipes['mqar-softmax'], 1], ['lm', recipes.lm, 1]];
  for (const [name, r, batch] of gpuRuns) {
    try {
      const d = await webgpuDispatches(r, batch);
      log({ name: `${name} WebGPU training step`, adapter: d.adapter, batch, dispatchesPerStep: d.dispatchesPerStep, tensorDispatchesPerStep: d.tensorDispatchesPerStep, msFirstStep: round(d.msFirstStep) });
    } catch (e) {
      log({ name: `${name} WebGPU training step`, adapter: 'none', batch, error: e.message });
    }
  }
  return records;
}

export default run;
