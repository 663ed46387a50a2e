/**
 * The chunk algorithm of cpu/linear-core.ts on the WebAssembly SIMD kernels of cpu/wasm.ts
 * (`qk`: scores tile, `pv`: weights times rows), float32 with float32 accumulation:
 *
 *   A    = scale Q_c K_c^T . (causal, exp(L_i - L_j))        qk, then mask and decay in JS
 *   Y_c  = A V_c + (scale e^{L_i} Q_c) S                     pv twice
 *   S    = e^{L_last} S + (e^{L_last - L_j} K_c)^T V_c       pv on the transposed, decayed keys
 *
 * Only one chunk lives in WebAssembly memory at a time (rows copied in and out), so memory stays
 * O(C (F + W) + F W) whatever N is. Feature widths are padded with zeros to 4 (q/k) and 16 (v/state)
 * lanes, as the kernels need.
 */
import { wasmKernels } from './wasm.js';
import type { Arr, CoreDims, CoreResult } from './linear-core.js';

interface Kernels {
  memory: WebAssembly.Memory;
  qk(q: number, k: number, s: number, rows: number, keys: number, D: number, scale: number): void;
  pv(p: number, v: number, acc: number, rows: number, keys: number, D: number): void;
  elu1(p: number, n: number): void;
}

function kernels(): Kernels | null {
  const w = wasmKernels() as unknown as Kernels | null;
  return w && typeof w.elu1 === 'function' ? w : null;
}

function reserve(w: Kernels, bytes: number): Float32Array {
  const have = w.memory.buffer.byteLength;
  if (bytes > have) w.memory.grow(Math.ceil((bytes - have) / 65536));
  return new Float32Array(w.memory.buffer);
}

/** elu1 (x > 0 ? x + 1 : e^x) of every element into `out`, in SIMD blocks of 64K floats. */
export function elu1Wasm(x: Float32Array, out: Float32Array): Float32Array {
  const w = kernels()!;
  const block = 1 << 16;
  const mem = reserve(w, block * 4);
  for (let i = 0; i < x.length; i += block) {
    const n = Math.min(block, x.length - i);
    mem.set(x.subarray(i, i + n), 0);
    w.elu1(0, Math.ceil(n / 4) * 4);
    out.set(mem.subarray(0, n), i);
  }
  return out;
}

const up = (x: number, m: number): number => Math.ceil(x / m) * m;

/** Whether the SIMD kernels are there (and not turned off with ATTNLAB_CPU_KERNELS=js). */
export function linearWasmAvailable(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (env?.['ATTNLAB_CPU_KERNELS'] === 'js') return false;
  return kernels() !== null;
}

/**
 * `reverse`: run time backwards (run position u reads row N-1-u of q, k, v and writes row N-1-u of y);
 * `a` is then in run order (linear-core.ts reverseDecays). `vOnes`: v holds W - 1 columns and the
 * last column is 1 (the normaliser's), so callers need not build [v, 1].
 */
export function linearChunkWasm(q: Arr, k: Arr, v: Arr, a: Arr, s0: Arr | null, d: CoreDims, scale: number, C: number, reverse = false, vOnes = false): CoreResult {
  const w = kernels();
  if (!w) throw new Error('linearChunkWasm: WebAssembly SIMD is unavailable');
  const { BH, N, F, W } = d;
  const Fp = up(F, 4);
  const Wp = up(W, 16);
  // Layout in floats: Q | K | Qs (decayed q) | V | Y | S | A | Kt (decayed keys, transposed).
  const oQ = 0;
  const oK = oQ + C * Fp;
  const oQs = oK + C * Fp;
  const oV = oQs + C * Fp;
  const oY = oV + C * Wp;
  const oS = oY + C * Wp;
  const oA = oS + Fp * Wp;
  const oKt = oA + C * C;
  const need = (oKt + Fp * C) * 4;
  const mem = reserve(w, need);
  mem.fill(0, 0, need / 4);
  const Vw = vOnes ? W - 1 : W;
  if (vOnes) for (let i = 0; i < C; i++) mem[oV + i * Wp + W - 1] = 1;
  const y = new Float32Array(BH * N * W);
  const Sall = new Float32Array(BH * F * W);
  const L = new Float64Array(C);
  for (let bh = 0; bh < BH; bh++) {
    mem.fill(0, oS, oS + Fp * Wp);
    if (s0) for (let f = 0; f < F; f++) for (let c = 0; c < W; c++) mem[oS + f * Wp + c] = s0[(bh * F + f) * W + c]!;
    for (let t0 = 0; t0 < N; t0 += C) {
      const len = Math.min(C, N - t0);
      const r0 = bh * N + t0;
      let decays = false;
      for (let i = 0, acc = 0; i < len; i++) {
        const ai = a[r0 + i]!;
        if (ai !== 0) decays = true;
        L[i] = acc += ai;
      }
      // Row of run position t0 + i in the arrays.
      const at = (i: number): number => (reverse ? bh * N + N - 1 - (t0 + i) : r0 + i);
      if (F === Fp && !reverse) {
        mem.set(q.subarray(r0 * F, (r0 + len) * F), oQ);
        mem.set(k.subarray(r0 * F, (r0 + len) * F), oK);
      } else {
        for (let i = 0; i < len; i++) {
          const r = at(i) * F;
          mem.set(q.subarray(r, r + F), oQ + i * Fp);
          mem.set(k.subarray(r, r + F), oK + i * Fp);
        }
      }
      if (Vw === Wp && !reverse) mem.set(v.subarray(r0 * Vw, (r0 + len) * Vw), oV);
      else for (let i = 0; i < len; i++) mem.set(v.subarray(at(i) * Vw, (at(i) + 1) * Vw), oV + i * Wp);
      mem.fill(0, oY, oY + len * Wp);
      // Intra-chunk: causal, decayed scores (the tile is len x len).
      w.qk(oQ * 4, oK * 4, oA * 4, len, len, Fp, scale);
      for (let i = 0; i < len; i++) {
        const row = oA + i * len;
        for (let j = i + 1; j < len; j++) mem[row + j] = 0;
        if (decays) for (let j = 0; j <= i; j++) mem[row + j]! *= Math.exp(L[i]! - L[j]!);
      }
      w.pv(oA * 4, oV * 4, oY * 4, len, len, Wp);
      // Inter-chunk: the state before the chunk.
      for (let i = 0; i < len; i++) {
        const c = scale * (decays ? Math.exp(L[i]!) : 1);
        for (let f = 0; f < F; f++) mem[oQs + i * Fp + f] = mem[oQ + i * Fp + f]! * c;
      }
      w.pv(oQs * 4, oS * 4, oY * 4, len, Fp, Wp);
      if (W === Wp && !reverse) y.set(mem.subarray(oY, oY + len * W), r0 * W);
      else for (let i = 0; i < len; i++) y.set(mem.subarray(oY + i * Wp, oY + i * Wp + W), at(i) * W);
      // State update.
      const last = L[len - 1]!;
      if (last !== 0) {
        const dec = Math.exp(last);
        for (let i = oS; i < oS + Fp * Wp; i++) mem[i]! *= dec;
      }
      for (let j = 0; j < len; j++) {
        const c = decays ? Math.exp(last - L[j]!) : 1;
        for (let f = 0; f < F; f++) mem[oKt + f * len + j] = mem[oK + j * Fp + f]! * c;
      }
      w.pv(oKt * 4, oV * 4, oS * 4, F, len, Wp);
    }
    for (let f = 0; f < F; f++) for (let c = 0; c < W; c++) Sall[(bh * F + f) * W + c] = mem[oS + f * Wp + c]!;
  }
  return { y, S: Sall };
}
