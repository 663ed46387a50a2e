// Attention benchmark: our flash / naive / block-sparse / linear-chunk attention against
// onnxruntime-web (MatMul-Softmax-MatMul graph and the fused ONNX Attention op), D = 64, H = 8,
// causal. CPU: our CPU device vs ORT's wasm provider (one thread each), same process.
// WebGPU: our WGSL kernels on a Dawn device in Node (SwiftShader here: correctness-grade timing
// only; sizes are capped on software adapters). Run: npm run bench -- attention, or directly
// `node test/bench/suites/attention.mjs` (writes test/bench/results/attention.json).
import { writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensor, cpuDevice, getDevice } from '@attnlab/tensor';
import { attention, linearAttention, causal, createBlockMask, maskMod } from '@attnlab/attention';
import { attentionModel } from '../onnx-attention.mjs';

const H = 8;
const D = 64;
const QUICK = process.env.ATTN_BENCH_QUICK === '1';
const GPU_NS = process.env.ATTN_BENCH_GPU_NS ? process.env.ATTN_BENCH_GPU_NS.split(',').map(Number) : null;
const CPU_NS = process.env.ATTN_BENCH_CPU_NS ? process.env.ATTN_BENCH_CPU_NS.split(',').map(Number) : QUICK ? [256, 512, 1024] : [256, 512, 1024, 2048, 4096, 8192];

function rand(n, seed) {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5) * 2;
  }
  return out;
}

async function time(fn, { reps, warm = 1 }) {
  for (let i = 0; i < warm; i++) await fn();
  const ts = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

const repsFor = (N) => (N <= 512 ? 5 : N <= 2048 ? 3 : 1);

/** Causal block mask that keeps a random `density` share of the lower-triangle blocks (diagonal always kept). */
function sparseMask(N, density, seed) {
  const nb = Math.ceil(N / 64);
  const r = rand(nb * nb, seed);
  const blk = Array.from({ length: nb }, (_, i) => Array.from({ length: nb }, (_, j) => (j === i || (j < i && (r[i * nb + j] + 1) / 2 < density) ? 1 : 0)));
  const m = maskMod((b, h, q, k) => k <= q && blk[Math.floor(q / 64)][Math.floor(k / 64)] === 1, { captures: { blk } });
  return createBlockMask(m, { B: 1, H, Nq: N, Nk: N, blockSize: 64 });
}

function slope(xs, ys) {
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((a, b) => a + b) / lx.length;
  const my = ly.reduce((a, b) => a + b) / ly.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < lx.length; i++) {
    num += (lx[i] - mx) * (ly[i] - my);
    den += (lx[i] - mx) ** 2;
  }
  return num / den;
}

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
    for (const density of [0.5, 0.25, 0.1]) {
      const bm = sparseMask(N, density, 7);
      const ms = await time(async () => { const r = await attention(q, k, v, { mask: bm }); r.out.dispose(); }, { reps });
      row[`sparse${density}`] = ms;
      row[`sparse${density}Density`] = bm.density();
    }
    row.linearChunk = await time(async () => { const r = await linearAttention(q, k, v, { featureMap: 'elu1', normalize: true, mode: 'chunk', chunkSize: 64 }); r.out.dispose(); }, { reps });
    linTimes.push([N, row.linearChunk]);
    if (ort && N <= 4096) {
      const feeds = { q: new ort.Tensor('float32', qa, shape), k: new ort.Tensor('float32', ka, shape), v: new ort.Tensor('float32', va, shape) };
      for (const kind of ['matmul', 'fused']) {
        try {
          const s = await ortSession(ort, N, kind);
          row[`ort_${kind}`] = await time(() => s.run(feeds), { reps: Math.min(reps, 3) });
          await s.release();
        } catch (e) {
          row[`ort_${kind}_error`] = e.message.slice(0, 200);
        }
      }
    }
    const causalDensity = createBlockMask(causal(), { B: 1, H: 1, Nq: N, Nk: N, blockSize: 64 }).density();
    const rec = { suite: 'attention', device: 'cpu', adapter: dev.adapter, H, D, causal: true, ...Object.fromEntries(Object.entries(row).map(([a, b]) => [a, typeof b === 'number' ? +b.toFixed(3) : b])) };
    rec.flashOverNaive = row.naive ? +(row.flash / row.naive).toFixed(3) : null;
    rec.flashOverOrtMatmul = row.ort_matmul ? +(row.flash / row.ort_matmul).toFixed(3) : null;
    rec.flashOverOrtFused = row.ort_fused ? +(row.flash / row.ort_fused).toFixed(3) : null;
    for (const density of [0.5, 0.25, 0.1]) {
      rec[`sparse${density}OverFlash`] = +(row[`sparse${density}`] / row.flash).toFixed(3);
      rec[`sparse${density}IdealRatio`] = +(row[`sparse${density}Density`] / causalDensity).toFixed(3);
    }
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
    const shape = [1, H, N, D];
    const [q, k, v] = [1, 2, 3].map((s) => tensor(rand(H * N * D, s), shape, { device: dev }));
    const reps = software ? 1 : 5;
    const timed = async (opts) => time(async () => {
      const r = await attention(q, k, v, opts);
      await dev.sync();
      r.out.dispose();
      r.lse.dispose();
    }, { reps });
    const row = { N };
    row.flash = await timed({ mask: causal() });
    if (N <= (software ? 512 : 4096)) row.naive = await timed({ mask: causal(), impl: 'naive' });
    const dens = {};
    for (const density of [0.5, 0.25, 0.1]) {
      const bm = sparseMask(N, density, 7);
      dens[density] = bm.density();
      row[`sparse${density}`] = await timed({ mask: bm });
    }
    row.linearChunk = await time(async () => {
      const r = await linearAttention(q, k, v, { featureMap: 'elu1', normalize: true, mode: 'chunk', chunkSize: 64 });
      await dev.sync();
      r.out.dispose();
    }, { reps });
    linTimes.push([N, row.linearChunk]);
    for (const t of [q, k, v]) t.dispose();
    const rec = { suite: 'attention', device: 'webgpu', adapter: dev.adapter, software, H, D, causal: true, ...Object.fromEntries(Object.entries(row).map(([a, b]) => [a, +b.toFixed(3)])) };
    rec.flashOverNaive = row.naive ? +(row.flash / row.naive).toFixed(3) : null;
    const causalDensity = createBlockMask(causal(), { B: 1, H: 1, Nq: N, Nk: N, blockSize: 64 }).density();
    for (const density of [0.5, 0.25, 0.1]) {
      rec[`sparse${density}OverFlash`] = +(row[`sparse${density}`] / row.flash).toFixed(3);
      rec[`sparse${density}IdealRatio`] = +(dens[density] / causalDensity).toFixed(3);
    }
    records.push(rec);
    console.log(JSON.stringify(rec));
  }
  if (linTimes.length > 1) records.push({ suite: 'attention', device: 'webgpu', adapter: dev.adapter, name: 'linear chunk log-log slope of time over N', slope: +slope(linTimes.map((x) => x[0]), linTimes.map((x) => x[1])).toFixed(3), points: linTimes });
  records.push({ suite: 'attention', device: 'webgpu', adapter: dev.adapter, note: 'onnxruntime-web on WebGPU (headless Chromium) is not measured yet' });
}

export async function run() {
  const records = [];
  await cpuSuite(records);
  await gpuSuite(records);
  return records;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const records = await run();
  const dir = fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}attention.json`, JSON.stringify(records, null, 2));
  console.log(`wrote ${dir}attention.json`);
}
