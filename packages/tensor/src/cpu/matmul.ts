import type { MatmulSpec } from '../backend.js';
import { gemmWasm, gemmWorthIt } from './wasm/gemm.js';

/** Reference-quality CPU matmul: float64 accumulation, any transposition and batch broadcast. */
export function matmulJS(a: Float32Array, b: Float32Array, out: Float32Array, s: MatmulSpec): void {
  const { m, k, n } = s;
  const row = new Float64Array(n);
  for (let bt = 0; bt < s.batch; bt++) {
    const ao = bt * s.aBatchStride;
    const bo = bt * s.bBatchStride;
    const oo = bt * m * n;
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let p = 0; p < k; p++) {
        const av = s.transA ? a[ao + p * m + i]! : a[ao + i * k + p]!;
        if (s.transB) {
          for (let j = 0; j < n; j++) row[j]! += av * b[bo + j * k + p]!;
        } else {
          const base = bo + p * n;
          for (let j = 0; j < n; j++) row[j]! += av * b[base + j]!;
        }
      }
      for (let j = 0; j < n; j++) out[oo + i * n + j] = row[j]!;
    }
  }
}

/** Large products go to the WebAssembly SIMD kernel; small ones stay in float64 JavaScript. */
export function matmulCpu(a: Float32Array, b: Float32Array, out: Float32Array, s: MatmulSpec): void {
  if (gemmWorthIt(s.m, s.k, s.n)) gemmWasm(a, b, out, s);
  else matmulJS(a, b, out, s);
}
