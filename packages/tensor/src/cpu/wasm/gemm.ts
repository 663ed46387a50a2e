import type { MatmulSpec } from '../../backend.js';
import { GEMM_WASM_BASE64 } from './gemm-wasm.js';

/**
 * The CPU device's matmul: a SIMD micro-kernel (gemm.wat) computes 4 x 8 tiles of C reading A and
 * B through strides in WebAssembly memory, so most operands are one memcpy away from the kernel:
 * row-major A and B (up to DIRECT_B_MAX_N columns) are copied as they are; a transposed A is packed
 * into 4-row blocks and a transposed or wide B into 8-column panels (k rows a few KB apart alias
 * in the L1 cache); C comes back in one copy when n is a multiple of 8. Instantiated
 * synchronously so CPU ops stay synchronous.
 */
interface GemmExports {
  mem: WebAssembly.Memory;
  gemm: (ap: number, abs: number, ars: number, acs: number, bp: number, bps: number, bld: number, cp: number, mb: number, nb: number, k: number, ldc: number, acc: number) => void;
  gelu: (x: number, y: number, n: number) => void;
  geluGrad: (x: number, g: number, out: number, n: number) => void;
  packAt: (src: number, dst: number, m: number, k: number) => void;
  packB: (src: number, dst: number, n: number, k: number) => void;
  addBias: (c: number, bias: number, rows: number, ldc: number) => void;
  colSum: (src: number, dst: number, acc: number, outer: number, len: number, inner: number) => void;
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

/** Whether the WebAssembly kernel is worth its copies for this size. */
export function gemmWorthIt(m: number, k: number, n: number): boolean {
  return m * k * n >= 4096 && k >= 4;
}

/**
 * out = A B (batched per `s`), plus bias[j] on every row's column j when a bias (n floats) is given:
 * added in SIMD after the full accumulation, so out equals matmul then add bit for bit.
 */
export function gemmWasm(a: Float32Array, b: Float32Array, out: Float32Array, s: MatmulSpec, bias?: Float32Array): void {
  const { m, k, n } = s;
  const mb = Math.ceil(m / 4);
  const nb = Math.ceil(n / 8);
  // C: whole 4 x 8 tiles; rows of exactly n floats when n is a multiple of 8 (copied out at once).
  const ldc = nb * 8;
  // Row-major A as it is (the last block's rows past m read zeros), or Aᵀ packed into 4-row blocks.
  const aFloats = mb * 4 * k;
  // B row-major as it is (the last panel's columns past n read the next floats: 8 spare), or packed
  // into panels: when transposed, and when its rows are long (k rows a few KB apart alias in the L1
  // cache, which then cannot hold a panel across the row blocks).
  const packed = s.transB || n > DIRECT_B_MAX_N;
  const bFloats = packed ? nb * 8 * k : k * n + 8;
  const cFloats = mb * 4 * ldc;
  // Aᵀ and wide B are staged as they are (rows padded to a multiple of 4 or 8) and packed in SIMD.
  const stageFloats = Math.max(s.transA ? k * mb * 4 : 0, packed && !s.transB ? k * nb * 8 : 0);
  const w = instance();
  const biasFloats = bias ? ldc : 0;
  ensureBytes(w, (aFloats + bFloats + cFloats + stageFloats + biasFloats) * 4);
  const heap = new Float32Array(w.mem.buffer);
  const ap = 0;
  const bp = aFloats;
  const cp = aFloats + bFloats;
  // Junk in the spare floats only reaches C rows and columns that are never copied out; zeros keep
  // it free of NaN and subnormals all the same.
  if (!s.transA) heap.fill(0, ap + m * k, bp);
  if (!packed) heap.fill(0, bp + k * n, cp);
  // The bias sits past the staging area (packing never reaches it), padded with zeros to ldc.
  const biasP = cp + cFloats + stageFloats;
  if (bias) {
    heap.set(bias.subarray(0, n), biasP);
    heap.fill(0, biasP + n, biasP + ldc);
  }
  const ars = s.transA ? 4 : 4 * k;
  const acs = s.transA ? 16 : 4;
  const bps = packed ? 32 * k : 32;
  const bld = packed ? 32 : 4 * n;
  let lastB = -1;
  for (let bt = 0; bt < s.batch; bt++) {
    const ao = bt * s.aBatchStride;
    const bo = bt * s.bBatchStride;
    if (bt === 0 || s.aBatchStride !== 0) {
      if (s.transA) packAt(w, heap, ap, cp + cFloats, a, ao, m, k, mb);
      else heap.set(a.subarray(ao, ao + m * k), ap);
    }
    // B once per distinct matrix (a broadcast B is copied once).
    if (bo !== lastB) {
      lastB = bo;
      if (s.transB) packBt(heap, bp, b, bo, n, k, nb);
      else if (packed) packB(w, heap, bp, cp + cFloats, b, bo, n, k, nb);
      else heap.set(b.subarray(bo, bo + k * n), bp);
    }
    // k in chunks, each continuing the sums in C (bit-identical to one pass): a chunk's B panels
    // stay in the L1 cache while every row block of A goes past them.
    for (let p0 = 0; p0 < k; p0 += K_CHUNK) {
      const kc = Math.min(K_CHUNK, k - p0);
      w.gemm((ap * 4) + p0 * acs, 16 * k, ars, acs, (bp * 4) + p0 * bld, bps, bld, cp * 4, mb, nb, kc, ldc, p0 > 0 ? 1 : 0);
    }
    if (bias) w.addBias(cp * 4, biasP * 4, m, ldc);
    const oo = bt * m * n;
    if (ldc === n) out.set(heap.subarray(cp, cp + m * n), oo);
    else for (let i = 0; i < m; i++) out.set(heap.subarray(cp + i * ldc, cp + i * ldc + n), oo + i * n);
  }
}

/** Steps of k per kernel pass (8-column B panels of 16 KB). */
const K_CHUNK = 512;

/** Aᵀ ([k, m] row-major) into 4-row blocks: block ib, step p, lane r = A[ib*4 + r][p] = a[p*m + ib*4 + r] (0 past m). */
function packAt(w: GemmExports, heap: Float32Array, ap: number, stage: number, a: Float32Array, ao: number, m: number, k: number, mb: number): void {
  const m4 = mb * 4;
  if (m4 === m) {
    heap.set(a.subarray(ao, ao + k * m), stage);
  } else {
    for (let p = 0; p < k; p++) {
      const d = stage + p * m4;
      heap.set(a.subarray(ao + p * m, ao + p * m + m), d);
      heap.fill(0, d + m, d + m4);
    }
  }
  w.packAt(stage * 4, ap * 4, m4, k);
}

/** Row-major B past this many columns is packed (measured on the transformer's shapes and n = 1024). */
const DIRECT_B_MAX_N = 128;

/** B ([k, n] row-major) into 8-column panels: panel jb, step p, lane c = B[p][jb*8 + c] (0 past n). */
function packB(w: GemmExports, heap: Float32Array, bp: number, stage: number, b: Float32Array, bo: number, n: number, k: number, nb: number): void {
  const n8 = nb * 8;
  if (n8 === n) {
    heap.set(b.subarray(bo, bo + k * n), stage);
  } else {
    for (let p = 0; p < k; p++) {
      const d = stage + p * n8;
      heap.set(b.subarray(bo + p * n, bo + p * n + n), d);
      heap.fill(0, d + n, d + n8);
    }
  }
  w.packB(stage * 4, bp * 4, n8, k);
}

/** Bᵀ ([n, k] row-major) into 8-column panels: panel jb, step p, lane c = B[j][p] with j = jb*8 + c (0 past n). */
function packBt(heap: Float32Array, bp: number, b: Float32Array, bo: number, n: number, k: number, nb: number): void {
  for (let jb = 0; jb < nb; jb++) {
    const base = bp + jb * 8 * k;
    for (let c = 0; c < 8; c++) {
      const j = jb * 8 + c;
      if (j >= n) {
        for (let p = 0; p < k; p++) heap[base + p * 8 + c] = 0;
      } else {
        const row = bo + j * k;
        for (let p = 0, d = base + c; p < k; p++, d += 8) heap[d] = b[row + p]!;
      }
    }
  }
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

/**
 * Column sums of g viewed as [...lead, n] down to [n], the leading axes reduced one at a time from
 * the last (as `sum(g, axes)` does), each in float64 over its axis in order and rounded to float32:
 * the same roundings, so the same bits, as the CPU reduce. n must be a multiple of 4.
 */
export function leadingSumsWasm(g: Float32Array, lead: readonly number[], n: number): Float32Array {
  const w = instance();
  const total = g.length;
  // src, then dst (at most total floats), then n float64 accumulators.
  ensureBytes(w, total * 8 + n * 8);
  let heap = new Float32Array(w.mem.buffer);
  heap.set(g, 0);
  const dst = total;
  const acc = 2 * total;
  let outer = total / n;
  let src = 0;
  for (let a = lead.length - 1; a >= 0; a--) {
    const len = lead[a]!;
    outer /= len;
    // Alternate between the two halves so a pass never reads what it writes.
    const to = src === 0 ? dst : 0;
    w.colSum(src * 4, to * 4, acc * 4, outer, len, n);
    src = to;
  }
  heap = new Float32Array(w.mem.buffer);
  return heap.slice(src, src + n);
}
