#!/usr/bin/env node
// `npm start`. The JupyterLab app (issue 5) has not landed yet, so today this builds the packages
// and runs a short terminal tour of what works: the device, attention with a mask on WebGPU (or
// the CPU), its probabilities, and a block mask. It will start the lab once the lab lands.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const { getDevice, randn } = await import('@attnlab/tensor');
const { attention, causal, slidingWindow, sinks, or, createBlockMask } = await import('@attnlab/attention');

console.log('\nattnlab: the lab (JupyterLab + in-browser kernel) is not built yet; this is a terminal tour.\n');
let device;
try {
  device = await getDevice({ prefer: process.env.ATTNLAB_DEVICE === 'cpu' ? 'cpu' : 'webgpu' });
} catch (e) {
  console.log(`no WebGPU adapter (${e.message}); using the CPU`);
  device = await getDevice({ prefer: 'cpu' });
}
console.log(`device: ${device.kind} — ${device.adapter}`);

const [B, H, N, D] = [1, 2, 16, 32];
const q = randn([B, H, N, D], { device, seed: 1 });
const k = randn([B, H, N, D], { device, seed: 2 });
const v = randn([B, H, N, D], { device, seed: 3 });
const mask = or(sinks(1), slidingWindow(4));
const { out, lse, probs } = await attention(q, k, v, { mask, returnProbs: { heads: [0] } });
console.log(`attention(q, k, v, { mask: or(sinks(1), slidingWindow(4)) }) -> out [${out.shape}], lse [${lse.shape}]`);
const p = await probs.data();
console.log('head 0 probabilities (rows = queries, . < 0.05):');
for (let i = 0; i < N; i++) {
  let row = '';
  for (let j = 0; j < N; j++) {
    const x = p[i * N + j];
    row += x < 0.05 ? ' .' : x < 0.25 ? ' o' : ' #';
  }
  console.log('  ' + row);
}
const bm = createBlockMask(causal(), { B: 1, H: 1, Nq: 1024, Nk: 1024, blockSize: 64 });
console.log(`\ncreateBlockMask(causal(), N=1024, blockSize 64): density ${bm.density().toFixed(3)}`);
console.log('\nNext: `npm test` runs every test; `npm run bench` writes benchmark JSON to test/bench/results/.');
