// Attention benchmark: our flash / naive / block-sparse / linear-chunk attention against
// onnxruntime-web (a MatMul-Softmax-MatMul graph, the ONNX Attention op, and ORT's contrib
// MultiHeadAttention), D = 64, H = 8, causal; every ORT output is checked against ours before it
// is timed. CPU: our CPU device vs ORT's wasm provider (one thread each), same process.
// WebGPU: our WGSL kernels on a Dawn device in Node, then ours and ORT's WebGPU provider side by
// side in headless Chromium (browser/attention-browser.mjs). SwiftShader here: correctness-grade
// timing only; sizes are capped on software adapters. Run: npm run bench -- attention, or
// `node test/bench/suites/attention.mjs` (writes test/bench/results/attention.json).
// ATTN_BENCH_PARTS=cpu,linear,node,chromium picks parts; ATTN_BENCH_CPU_NS / ATTN_BENCH_GPU_NS /
// ATTN_BENCH_LIN_NS pick sizes.
import { writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensor, cpuDevice, getDevice } from '@attnlab/tensor';
import { attention, linearAttention, causal } from '@attnlab/attention';
import { attentionModel } from '../onnx-attention.mjs';
import { H, D, rand, time, repsFor, sparseMask, slope, round3, ratios, ourGpuRow, ourCausalOut, maxAbsDiff } from '../lib/attention-common.mjs';
import { browserSuite } from '../browser/attention-browser.mjs';
import { linearCpuRecords, devFromMedian, LIN } from '../lib/linear-cpu-bench.mjs';

const QUICK = process.env.ATTN_BENCH_QUICK === '1';
const GPU_NS = process.env.ATTN_BENCH_GPU_NS ? process.env.ATTN_BENCH_GPU_NS.split(',').map(Number) : null;
const CPU_NS = process.env.ATTN_BENCH_CPU_NS ? process.env.ATTN_BENCH_CPU_NS.split(',').map(Number) : QUICK ? [256, 512, 1024] : [256, 512, 1024, 2048, 4096, 8192];

async function ortSession(ort, N, kind) {
  return ort.InferenceSession.create(attentionModel({ H, N, D, causal: true, kind }), { executionProviders: ['wasm'] });
}

async function cpuSuite(records) {
  const dev = cpuDevice();
  let ort = null;
  try {
    ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
  } catch (e) {
    console.warn(`attention bench: onnxruntime-web unavailable (${e.message})`);
  }
  const linTimes = [];
  for (const N of CPU_NS) {
    const shape = [1, H, N, D];
    const qa = rand(H * N * D, 1);
    const ka = rand(H * N * D, 2);
    const va = rand(H * N * D, 3);
    const [q, k, v] = [qa, ka, va].map((a) => tensor(a, shape, { device: dev }));
    const reps = repsFor(N);
    const row = { N };
    row.flash = await time(async () => { const r = await attention(q, k, v, { mask: causal() }); r.out.dispose(); r.lse.dispose(); }, { reps });
    if (N <= 1024) row.naive = await time(async () => { const r = await attention(q, k, v, { mask: causal(), impl: 'naive' }); r.out.dispose(); }, { reps: Math.min(reps, 2) });
    const densities = {};
    for (const density of [0.5, 0.25, 0.1]) {
      const bm = sparseMask(N, density, 7);
      densities[density] = bm.density();
      row[`sparse${density}`] = await time(async () => { const r = await attention(q, k, v, { mask: bm }); r.out.dispose(); }, { reps });
    }
    row.linearChunk = await time(async () => { const r = await linearAttention(q, k, v, { featureMap: 'elu1', normalize: true, mode: 'chunk', chunkSize: 64 }); r.out.dispose(); }, { reps });
    linTimes.push([N, row.linearChunk]);
    if (ort && N <= 4096) {
      const feeds = { q: new ort.Tensor('float32', qa, shape), k: new ort.Tensor('float32', ka, shape), v: new ort.Tensor('float32', va, shape) };
      const ref = await ourCausalOut(dev, N);
      for (const kind of ['matmul', 'fused', 'mha']) {
        try {
          const s = await ortSession(ort, N, kind);
          // Checked before timed: a graph that computes something else must not pass as a timing.
          const diff = maxAbsDiff((await s.run(feeds)).out.data, ref, N, kind === 'mha');
          if (!(diff < 1e-3)) throw new Error(`ORT ${kind} output differs from ours by ${diff}`);
          row[`ort_${kind}_maxAbsDiff`] = diff;
          row[`ort_${kind}`] = await time(() => s.run(feeds), { reps: Math.min(reps, 3) });
          await s.release();
        } catch (e) {
          row[`ort_${kind}_error`] = e.message.slice(0, 200);
        }
      }
    }
    const rec = { suite: 'attention', device: 'cpu', adapter: dev.adapter, H, D, causal: true, ...round3(row) };
    ratios(rec, row, densities, N);
    records.push(rec);
    console.log(JSON.stringify(rec));
    for (const t of [q, k, v]) t.dispose();
  }
  records.push({ suite: 'attention', device: 'cpu', adapter: dev.adapter, name: 'linear chunk log-log slope of time over N', slope: +slope(linTimes.map((x) => x[0]), linTimes.map((x) => x[1])).toFixed(3), points: linTimes });
}

async function gpuSuite(records) {
  let dev;
  try {
    dev = await getDevice({ prefer: 'webgpu' });
  } catch (e) {
    records.push({ suite: 'attention', device: 'webgpu', adapter: 'none', error: `no WebGPU device: ${e.message}` });
    return;
  }
  const software = dev.isSoftware;
  const Ns = GPU_NS ?? (software ? [256, 512, 1024] : [256, 512, 1024, 2048, 4096, 8192, 16384]);
  const linTimes = [];
  for (const N of Ns) {
    const { row, densities } = await ourGpuRow(dev, N, { reps: software ? 1 : 5, naiveUpTo: software ? 512 : 4096 });
    linTimes.push([N, row.linearChunk]);
    const rec = { suite: 'attention', device: 'webgpu', host: 'node (Dawn)', adapter: dev.adapter, software, H, D, causal: true, ...round3(row) };
    ratios(rec, row, densities, N);
    records.push(rec);
    console.log(JSON.stringify(rec));
  }
  if (linTimes.length > 1) records.push({ suite: 'attention', device: 'webgpu', adapter: dev.adapter, name: 'linear chunk log-log slope of time over N', slope: +slope(linTimes.map((x) => x[0]), linTimes.map((x) => x[1])).toFixed(3), points: linTimes });
}

// Linear attention on the CPU (issue 13's targets): chunk forward under causal flash from N = 1024,
// every backward within 3x of its forward, per-token chunk time within 10% of its median from 1k
// to 64k. Interleaved rounds, best-of-k and median (lib/linear-cpu-bench.mjs); ATTN_BENCH_ROUNDS.
const LIN_NS = process.env.ATTN_BENCH_LIN_NS ? process.env.ATTN_BENCH_LIN_NS.split(',').map(Number) : QUICK ? [1024, 4096] : [1024, 2048, 4096, 8192, 16384, 32768, 65536];
const ROUNDS = Number(process.env.ATTN_BENCH_ROUNDS ?? (QUICK ? 2 : 5));

async function linearSuite(records) {
  const dev = cpuDevice();
  const base = { suite: 'attention', device: 'cpu', adapter: dev.adapter, part: 'linear', ...LIN, featureMap: 'elu1', normalize: true, chunkSize: 64, unit: 'ms (best CPU time of the rounds unless named Wall / Med)' };
  const rows = await linearCpuRecords(LIN_NS, { rounds: ROUNDS, log: (m) => console.error(`linear bench: ${m.slice(0, 160)}`) });
  for (const row of rows) {
    const rec = { ...base, ...round3(row) };
    records.push(rec);
    console.log(JSON.stringify(rec));
  }
  if (rows.length > 1) {
    const per = (key) => rows.map((r) => r[key]);
    records.push({
      ...base, name: 'linear chunk per-token time: largest deviation from its median over N (target <= 0.10)',
      devBestCpu: +devFromMedian(per('chunkUsPerToken')).toFixed(3),
      devMedianCpu: +devFromMedian(per('chunkUsPerTokenMed')).toFixed(3),
      devBestWall: +devFromMedian(per('chunkUsPerTokenWall')).toFixed(3),
      points: rows.map((r) => [r.N, +r.chunkUsPerToken.toFixed(3), +r.chunkUsPerTokenMed.toFixed(3), +r.chunkUsPerTokenWall.toFixed(3)]),
      pointsAre: '[N, µs/token best CPU, median CPU, best wall]',
    });
  }
  // Every backward against its forward: the largest ratio per case over N (target <= 3).
  const worst = {};
  for (const r of rows) {
    for (const [k, x] of Object.entries(r)) {
      if (!k.endsWith('BwdOverFwd') && !k.endsWith('BwdOverFwdMed')) continue;
      if (!(k in worst) || x > worst[k][1]) worst[k] = [r.N, +x.toFixed(3)];
    }
  }
  const noise = rows.flatMap((r) => Object.entries(r).filter(([k]) => k.endsWith('Noise')).map(([, x]) => x));
  records.push({ ...base, name: 'backward / forward: largest ratio per case over N, [N, ratio] (target <= 3)', worst, noiseMedianOverBest: { min: +Math.min(...noise).toFixed(3), median: +[...noise].sort((a, b) => a - b)[noise.length >> 1].toFixed(3), max: +Math.max(...noise).toFixed(3) } });
}

export async function run() {
  const records = [];
  const parts = (process.env.ATTN_BENCH_PARTS ?? 'cpu,linear,node,chromium').split(',');
  if (parts.includes('cpu')) await cpuSuite(records);
  if (parts.includes('linear')) await linearSuite(records);
  if (parts.includes('node')) await gpuSuite(records);
  if (parts.includes('chromium')) await browserSuite(records, { Ns: GPU_NS });
  return records;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const records = await run();
  const dir = fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}attention.json`, JSON.stringify(records, null, 2));
  console.log(`wrote ${dir}attention.json`);
}
