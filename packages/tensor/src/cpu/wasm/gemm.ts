import type { MatmulSpec } from '../../backend.js';
import { GEMM_WASM_BASE64 } from './gemm-wasm.js';

/**
 * The CPU device's matmul: operands are packed (4-row blocks of A, 8-column panels of B, zero
 * padded, transposition resolved while packing) into WebAssembly memory and multiplied by a
 * SIMD micro-kernel (gemm.wat). Instantiated synchronously so CPU ops stay synchronous.
 */
interface GemmExports {
  mem: WebAssembly.Memory;
  gemm: (ap: number, bp: number, cp: number, mb: number, nb: number, k: number, ldc: number) => void;
  gelu: (x: number, y: number, n: number) => void;
  geluGrad: (x: number, g: number, out: number, n: number) => void;
}

let wasm: GemmExports | null = null;

function instance(): GemmExports {
  if (!wasm) {
    const bin = atob(GEMM_WASM_BASE64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as GemmExports;
  }
  return wasm;
}

function ensureBytes(w: GemmExports, bytes: number): void {
  const have = w.mem.buffer.byteLength;
  if (have < bytes) w.mem.grow(Math.ceil((bytes - have) / 65536));
}

/** Whether the WebAssembly kernel is worth its packing copies for this size. */
export function gemmWorthIt(m: number, k: number, n: number): boolean {
  return m * k * n >= 4096 && k >= 4;
}

export function gemmWasm(a: Float32Array, b: Float32Array, out: Float32Array, s: MatmulSpec): void {
  const { m, k, n } = s;
  const mb = Math.ceil(m / 4);
  const nb = Math.ceil(n / 8);
  const ldc = nb * 8;
  const apFloats = mb * 4 * k;
  const bpFloats = nb * 8 * k;
  const cpFloats = mb * 4 * ldc;
  const w = instance();
  ensureBytes(w, (apFloats + bpFloats + cpFloats) * 4);
  const heap = new Float32Array(w.mem.buffer);
  const ap = 0;
  const bp = apFloats;
  const cp = apFloats + bpFloats;
  let lastB = -1;
  for (let bt = 0; bt < s.batch; bt++) {
    const ao = bt * s.aBatchStride;
    const bo = bt * s.bBatchStride;
    packA(heap, ap, a, ao, m, k, mb, s.transA);
    // Pack B once per distinct matrix (a broadcast B is packed once).
    if (bo !== lastB) {
      lastB = bo;
      packB(heap, bp, b, bo, n, k, nb, s.transB);
    }
    w.gemm(ap * 4, bp * 4, cp * 4, mb, nb, k, ldc);
    unpackC(heap, cp, ldc, out, bt * m * n, m, n);
  }
}

// Packing loops are small functions of typed arrays and numbers so V8 optimises them once.

/** A into 4-row blocks: block ib, step p, lane r = A[ib*4 + r][p] (0 past m). Writes are sequential. */
function packA(heap: Float32Array, ap: number, a: Float32Array, ao: number, m: number, k: number, mb: number, transA: boolean): void {
  for (let ib = 0; ib < mb; ib++) {
    let d = ap + ib * 4 * k;
    const i0 = ib * 4;
    if (i0 + 4 <= m) {
      if (transA) {
        // a is [k, m]: the 4 lanes of step p are consecutive.
        for (let p = 0, src = ao + i0; p < k; p++, src += m, d += 4) {
          heap[d] = a[src]!;
          heap[d + 1] = a[src + 1]!;
          heap[d + 2] = a[src + 2]!;
          heap[d + 3] = a[src + 3]!;
        }
      } else {
        const r0 = ao + i0 * k;
        const r1 = r0 + k;
        const r2 = r1 + k;
        const r3 = r2 + k;
        for (let p = 0; p < k; p++, d += 4) {
          heap[d] = a[r0 + p]!;
          heap[d + 1] = a[r1 + p]!;
          heap[d + 2] = a[r2 + p]!;
          heap[d + 3] = a[r3 + p]!;
        }
      }
      continue;
    }
    for (let r = 0; r < 4; r++) {
      const i = i0 + r;
      const base = ap + ib * 4 * k;
      if (i >= m) {
        for (let p = 0; p < k; p++) heap[base + p * 4 + r] = 0;
      } else if (transA) {
        for (let p = 0; p < k; p++) heap[base + p * 4 + r] = a[ao + p * m + i]!;
      } else {
        const row = ao + i * k;
        for (let p = 0; p < k; p++) heap[base + p * 4 + r] = a[row + p]!;
      }
    }
  }
}

/** B into 8-column panels: panel jb, step p, lane c = B[p][jb*8 + c] (0 past n). */
function packB(heap: Float32Array, bp: number, b: Float32Array, bo: number, n: number, k: number, nb: number, transB: boolean): void {
  for (let jb = 0; jb < nb; jb++) {
    const base = bp + jb * 8 * k;
    if (!transB && (jb + 1) * 8 <= n) {
      // Whole panel from row-major B: 8 consecutive floats per step.
      for (let p = 0; p < k; p++) {
        const src = bo + p * n + jb * 8;
        const dst = base + p * 8;
        for (let c = 0; c < 8; c++) heap[dst + c] = b[src + c]!;
      }
      continue;
    }
    for (let c = 0; c < 8; c++) {
      const j = jb * 8 + c;
      if (j >= n) {
        for (let p = 0; p < k; p++) heap[base + p * 8 + c] = 0;
      } else if (transB) {
        const row = bo + j * k;
        for (let p = 0; p < k; p++) heap[base + p * 8 + c] = b[row + p]!;
      } else {
        for (let p = 0; p < k; p++) heap[base + p * 8 + c] = b[bo + p * n + j]!;
      }
    }
  }
}

function unpackC(heap: Float32Array, cp: number, ldc: number, out: Float32Array, oo: number, m: number, n: number): void {
  for (let i = 0; i < m; i++) out.set(heap.subarray(cp + i * ldc, cp + i * ldc + n), oo + i * n);
}

/** Below this many elements the copies in and out of WebAssembly memory outweigh the SIMD. */
const GELU_WASM_MIN = 1024;

/** y = gelu(x) for the first floor(n/4)*4 elements in SIMD; returns how many were done (0 when too small). */
export function geluWasm(x: Float32Array, y: Float32Array): number {
  const n4 = x.length & ~3;
  if (n4 < GELU_WASM_MIN) return 0;
  const w = instance();
  ensureBytes(w, n4 * 8);
  const heap = new Float32Array(w.mem.buffer);
  heap.set(x.subarray(0, n4), 0);
  w.gelu(0, n4 * 4, n4);
  y.set(heap.subarray(n4, 2 * n4), 0);
  return n4;
}

/** out = g * gelu'(x) for the first floor(n/4)*4 elements in SIMD; returns how many were done. */
export function geluGradWasm(x: Float32Array, g: Float32Array, out: Float32Array): number {
  const n4 = x.length & ~3;
  if (n4 < GELU_WASM_MIN) return 0;
  const w = instance();
  ensureBytes(w, n4 * 12);
  const heap = new Float32Array(w.mem.buffer);
  heap.set(x.subarray(0, n4), 0);
  heap.set(g.subarray(0, n4), n4);
  w.geluGrad(0, n4 * 4, n4 * 8, n4);
  out.set(heap.subarray(2 * n4, 3 * n4), 0);
  return n4;
}
