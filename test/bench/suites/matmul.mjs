// Matmul GFLOP/s: our CPU device (WebAssembly SIMD kernel), plain JavaScript loops, our WebGPU
// device, and onnxruntime-web's wasm MatMul (1 and 2 threads) in the same process.
import { cpuDevice, getDevice, matmul, randn, scope } from '@attnlab/tensor';
import * as ort from 'onnxruntime-web';
import { matmulModel } from '../lib/onnx.mjs';

const SIZES = [128, 256, 512, 1024, 2048];
const budgetMs = 1500;

async function timeIt(fn) {
  await fn(); // warm-up (compiles, tiers up)
  let reps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < budgetMs || reps < 2) {
    await fn();
    reps++;
  }
  return (performance.now() - t0) / reps;
}

const gflops = (n, ms) => +((2 * n ** 3) / (ms * 1e6)).toFixed(2);

async function ours(device, n) {
  const a = randn([n, n], { device, seed: 1 });
  const b = randn([n, n], { device, seed: 2 });
  const ms = await timeIt(async () => {
    const c = matmul(a, b);
    await device.sync();
    c.dispose();
  });
  a.dispose();
  b.dispose();
  return ms;
}

async function ortRun(threads, n) {
  ort.env.wasm.numThreads = threads;
  const session = await ort.InferenceSession.create(matmulModel(), { executionProviders: ['wasm'] });
  const a = new ort.Tensor('float32', Float32Array.from({ length: n * n }, () => Math.random() - 0.5), [n, n]);
  const b = new ort.Tensor('float32', Float32Array.from({ length: n * n }, () => Math.random() - 0.5), [n, n]);
  const ms = await timeIt(() => session.run({ A: a, B: b }));
  await session.release();
  return ms;
}

export async function run() {
  const records = [];
  const cpu = cpuDevice();
  let gpu = null;
  try {
    gpu = await getDevice({ prefer: 'webgpu' });
  } catch (e) {
    console.warn(`matmul bench: no WebGPU (${e.message})`);
  }
  // ORT's thread pool is fixed at its first session, so each thread count gets its own pass.
  const ortAdapter = (t) => `onnxruntime-web ${ort.env.versions?.web ?? ''} wasm, ${t} thread${t > 1 ? 's' : ''}`;
  for (const n of SIZES) {
    const row = { n };
    row.ours = await ours(cpu, n);
    records.push({ name: 'matmul', impl: 'attnlab cpu (wasm simd)', n, adapter: cpu.adapter, ms: +row.ours.toFixed(3), gflops: gflops(n, row.ours) });
    row.ort1 = await ortRun(1, n);
    records.push({ name: 'matmul', impl: 'onnxruntime-web wasm', threads: 1, n, adapter: ortAdapter(1), ms: +row.ort1.toFixed(3), gflops: gflops(n, row.ort1) });
    records.push({ name: 'matmul ratio', n, adapter: `${cpu.adapter} vs ${ortAdapter(1)}`, oursOverOrtTime: +(row.ours / row.ort1).toFixed(3) });
    if (gpu && (!gpu.isSoftware || n <= 1024)) {
      const ms = await ours(gpu, n);
      records.push({ name: 'matmul', impl: 'attnlab webgpu (tiled WGSL)', n, adapter: gpu.adapter, ms: +ms.toFixed(3), gflops: gflops(n, ms) });
    }
  }
  return records;
}
