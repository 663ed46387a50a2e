import { test } from 'node:test';
import { Rng } from '../src/index.js';
import { gemmWasm } from '../src/cpu/wasm/gemm.js';
import { assertClose, randomData, SEED } from './helpers.js';

/** The WebAssembly SIMD kernel against a float64 product, on awkward sizes and every layout. */
test('wasm SIMD gemm matches float64 on edge sizes, transposes and (broadcast) batches', () => {
  const rng = new Rng(SEED);
  const sizes = [1, 2, 3, 7, 8, 9, 16, 31, 33, 64, 65, 127, 130];
  for (let trial = 0; trial < 60; trial++) {
    const m = sizes[rng.int(sizes.length)]!;
    const k = sizes[rng.int(sizes.length)]!;
    const n = sizes[rng.int(sizes.length)]!;
    const transA = rng.uniform() < 0.5;
    const transB = rng.uniform() < 0.5;
    const batch = 1 + rng.int(3);
    const bBroadcast = rng.uniform() < 0.3;
    const a = randomData(rng, batch * m * k);
    const b = randomData(rng, (bBroadcast ? 1 : batch) * k * n);
    const spec = { batch, m, k, n, transA, transB, aBatchStride: m * k, bBatchStride: bBroadcast ? 0 : k * n };
    const out = new Float32Array(batch * m * n);
    gemmWasm(a, b, out, spec);
    const want = new Float64Array(batch * m * n);
    for (let bt = 0; bt < batch; bt++) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) {
            const av = transA ? a[bt * m * k + p * m + i]! : a[bt * m * k + i * k + p]!;
            const bo = bt * spec.bBatchStride;
            const bv = transB ? b[bo + j * k + p]! : b[bo + p * n + j]!;
            s += av * bv;
          }
          want[(bt * m + i) * n + j] = s;
        }
      }
    }
    assertClose(out, want, 1e-5 * Math.sqrt(k), 1e-5, `gemm m=${m} k=${k} n=${n} transA=${transA} transB=${transB} batch=${batch}${bBroadcast ? ' (B broadcast)' : ''}`);
  }
});
