import { test } from 'node:test';
import { Rng } from '../src/index.js';
import { gemmWasm } from '../src/cpu/wasm/gemm.js';
import { assertClose, randomData, SEED } from './helpers.js';

/**
 * The WebAssembly SIMD kernel against a float64 product, on awkward sizes and every layout: B read
 * in place (n <= 128) or packed (wider, or transposed), k in one pass or in chunks (k > 512),
 * broadcast A or B across the batch.
 */
test('wasm SIMD gemm matches float64 on edge sizes, transposes and (broadcast) batches', () => {
  const rng = new Rng(SEED);
  const sizes = [1, 2, 3, 7, 8, 9, 16, 31, 33, 64, 65, 127, 128, 130, 257];
  const longK = [511, 512, 513, 1030];
  for (let trial = 0; trial < 90; trial++) {
    const m = sizes[rng.int(sizes.length)]!;
    const k = trial % 6 === 5 ? longK[rng.int(longK.length)]! : sizes[rng.int(sizes.length)]!;
    const n = sizes[rng.int(sizes.length)]!;
    const transA = rng.uniform() < 0.5;
    const transB = rng.uniform() < 0.5;
    const batch = 1 + rng.int(3);
    const bBroadcast = rng.uniform() < 0.3;
    const aBroadcast = !bBroadcast && rng.uniform() < 0.2;
    const a = randomData(rng, (aBroadcast ? 1 : batch) * m * k);
    const b = randomData(rng, (bBroadcast ? 1 : batch) * k * n);
    const spec = { batch, m, k, n, transA, transB, aBatchStride: aBroadcast ? 0 : m * k, bBatchStride: bBroadcast ? 0 : k * n };
    const out = new Float32Array(batch * m * n);
    gemmWasm(a, b, out, spec);
    const want = new Float64Array(batch * m * n);
    for (let bt = 0; bt < batch; bt++) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) {
            const ao = bt * spec.aBatchStride;
            const av = transA ? a[ao + p * m + i]! : a[ao + i * k + p]!;
            const bo = bt * spec.bBatchStride;
            const bv = transB ? b[bo + j * k + p]! : b[bo + p * n + j]!;
            s += av * bv;
          }
          want[(bt * m + i) * n + j] = s;
        }
      }
    }
    assertClose(out, want, 1e-5 * Math.sqrt(k), 1e-5, `gemm m=${m} k=${k} n=${n} transA=${transA} transB=${transB} batch=${batch}${bBroadcast ? ' (B broadcast)' : ''}${aBroadcast ? ' (A broadcast)' : ''}`);
  }
});
