// Runs inside headless Chromium (loaded by attention-browser.mjs): our WGSL kernels and
// onnxruntime-web's WebGPU provider on the same adapter (ORT 1.30 keeps its own GPUDevice: handing
// it ours through env.webgpu.device is ignored), inputs already on the GPU and outputs left there,
// so both sides time the same work. CPU fallback is disabled, so a graph ORT cannot run wholly on
// WebGPU is reported as an error instead of timing wasm.
import { getDevice } from '@attnlab/tensor';
import * as ort from 'onnxruntime-web/webgpu';
import { attentionModel } from '../onnx-attention.mjs';
import { H, D, rand, time, round3, ratios, ourGpuRow, ourCausalOut, maxAbsDiff, slope } from '../lib/attention-common.mjs';

/** Times one ORT graph; the first run's output is read back and compared with ours (`ref`), so a graph that computes something else cannot pass as a timing. */
async function ortTimer(N, kind, reps, ref) {
  const session = await ort.InferenceSession.create(attentionModel({ H, N, D, causal: true, kind }), {
    executionProviders: ['webgpu'],
    preferredOutputLocation: 'gpu-buffer',
    extra: { session: { disable_cpu_ep_fallback: '1' } },
  });
  const gpu = await ort.env.webgpu.device;
  const dims = [1, H, N, D];
  const buffers = [1, 2, 3].map((seed) => {
    const data = rand(H * N * D, seed);
    const b = gpu.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    gpu.queue.writeBuffer(b, 0, data);
    return b;
  });
  const feeds = Object.fromEntries(['q', 'k', 'v'].map((name, i) => [name, ort.Tensor.fromGpuBuffer(buffers[i], { dataType: 'float32', dims })]));
  try {
    const first = (await session.run(feeds)).out;
    const diff = maxAbsDiff(await first.getData(true), ref, N, kind === 'mha');
    if (!(diff < 1e-3)) throw new Error(`ORT ${kind} output differs from ours by ${diff}`);
    const ms = await time(async () => {
      const { out } = await session.run(feeds);
      await gpu.queue.onSubmittedWorkDone();
      out.dispose();
    }, { reps });
    return { ms, diff };
  } finally {
    await session.release();
    for (const b of buffers) b.destroy();
  }
}

export async function run({ Ns }) {
  ort.env.wasm.wasmPaths = new URL('/node_modules/onnxruntime-web/dist/', location.href).href;
  ort.env.wasm.numThreads = 1;
  const dev = await getDevice({ prefer: 'webgpu' });
  const software = dev.isSoftware;
  const sizes = Ns ?? (software ? [256, 512] : [256, 512, 1024, 2048, 4096, 8192, 16384]);
  const reps = software ? 1 : 5;
  const records = [];
  const linTimes = [];
  for (const N of sizes) {
    const { row, densities } = await ourGpuRow(dev, N, { reps, naiveUpTo: software ? 512 : 4096 });
    linTimes.push([N, row.linearChunk]);
    const ref = await ourCausalOut(dev, N);
    for (const kind of ['matmul', 'fused', 'mha']) {
      try {
        const { ms, diff } = await ortTimer(N, kind, reps, ref);
        row[`ort_${kind}`] = ms;
        row[`ort_${kind}_maxAbsDiff`] = diff;
      } catch (e) {
        row[`ort_${kind}_error`] = String(e?.message ?? e).slice(0, 200);
      }
    }
    const rec = { suite: 'attention', device: 'webgpu', host: 'chromium', adapter: dev.adapter, software, H, D, causal: true, ...round3(row) };
    ratios(rec, row, densities, N);
    records.push(rec);
  }
  if (linTimes.length > 1) records.push({ suite: 'attention', device: 'webgpu', host: 'chromium', adapter: dev.adapter, name: 'linear chunk log-log slope of time over N', slope: +slope(linTimes.map((x) => x[0]), linTimes.map((x) => x[1])).toFixed(3), points: linTimes });
  return records;
}
