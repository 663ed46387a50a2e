/**
 * The chunk algorithm of cpu/linear-core.ts on the WebAssembly SIMD kernels of cpu/wasm.ts
 * (`qk`: scores tile, `pv`: weights times rows), float32 with float32 accumulation:
 *
 *   A    = scale Q_c K_c^T . (causal, exp(L_i - L_j))        qk, then mask and decay in JS
 *   Y_c  = A V_c + (scale e^{L_i} Q_c) S                     pv twice
 *   S    = e^{L_last} S + (e^{L_last - L_j} K_c)^T V_c       pv on the transposed, decayed keys
 *
 * Operands stream: a RowSource writes each chunk's rows straight into WebAssembly memory (raw
 * rows, feature-mapped rows, [v, 1], the gradient rows of a normalised output) and a RowSink
 * takes each chunk's result, so a run holds O(C (F + W) + F W) floats whatever N is and
 * allocates nothing that grows with N: the per-token cost stays flat from 1k to 64k tokens
 * (fresh N-sized arrays cost page faults and cache misses that grow with N).
 * A chunk's rows sit in memory in row order in both time directions; a reverse-time run (the
 * backward's dk and dv) flips the causal mask and the decays instead of the rows.
 * Feature widths are padded with zeros to 4 (q/k) and 16 (v/state) lanes, as the kernels need.
 */
import { wasmKernels } from './wasm.js';

export interface LinearKernels {
  memory: WebAssembly.Memory;
  qk(q: number, k: number, s: number, rows: number, keys: number, D: number, scale: number): void;
  pv(p: number, v: number, acc: number, rows: number, keys: number, D: number): void;
  /** pv over the transpose of p (p's row stride `pst`): acc[i] += sum_j p[j * pst + i] v[j]. */
  pvt(p: number, v: number, acc: number, rows: number, keys: number, D: number, pst: number): void;
  elu1(p: number, n: number): void;
  tscale(src: number, stride: number, dst: number, rows: number, cols: number, sc: number): void;
  elu1grad(phi: number, phiStride: number, g: number, gStride: number, rows: number, cols: number): void;
  rowscale(src: number, srcStride: number, dst: number, dstStride: number, rows: number, cols: number, sc: number): void;
  decaymask(a: number, len: number, step: number, reverse: number): void;
}

export function linearKernels(): LinearKernels | null {
  const w = wasmKernels() as unknown as LinearKernels | null;
  return w && typeof w.pvt === 'function' ? w : null;
}

/** Whether the SIMD kernels are there (and not turned off with ATTNLAB_CPU_KERNELS=js). */
export function linearWasmAvailable(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (env?.['ATTNLAB_CPU_KERNELS'] === 'js') return false;
  return linearKernels() !== null;
}

/** One operand of a run: `width` columns per row. */
export interface RowSource {
  readonly width: number;
  /**
   * Write rows r0 .. r0 + len - 1 (in row order) to `mem` at float offset `off`, `stride` floats
   * apart. Columns width .. stride - 1 must be left zero. `ops` are the operands loaded before
   * this one in the chunk (a source may derive its rows from them).
   */
  read(mem: Float32Array, off: number, stride: number, r0: number, len: number, ops: ChunkOperands): void;
}

/** Where a chunk's operands sit in WebAssembly memory: operand i at off[i], stride[i] floats a row. */
export interface ChunkOperands {
  off: number[];
  stride: number[];
}

/** Where a job's output rows go. */
export interface RowSink {
  /** Rows r0 .. r0 + len - 1 of the result are at `mem[off + i * stride]`; `ops`: the chunk's operands. */
  write(mem: Float32Array, off: number, stride: number, r0: number, len: number, ops: ChunkOperands): void;
}

/** One causal linear attention over a pass's operands: indices into the operand list. */
export interface ChunkJob {
  q: number;
  k: number;
  v: number;
  sink: RowSink;
  /** [BH, F, W] initial states (F = width of q, W = width of v), or null for zeros. */
  s0: ArrayLike<number> | null;
  /**
   * When given, [BH, chunks, F, up(W, 16)]: the state before each chunk (run order), times
   * stateScale(scale), rows padded as in WebAssembly memory (one copy each way), for a backward
   * that starts from them (cpu/linear-backward.ts).
   */
  states?: Float32Array;
  /**
   * When given (with states), [BH, chunks, C, C]: each chunk's causal, decayed score tile
   * (len x len at the chunk's offset), which the backward's dv needs again.
   */
  tiles?: Float32Array;
}

/** What a forward keeps for the one-pass backward (cpu/linear-backward.ts). */
export interface KeptForBackward {
  states: Float32Array;
  tiles: Float32Array | null;
}

export interface ChunkPass {
  BH: number;
  N: number;
  /** Rows per chunk. */
  C: number;
  scale: number;
  /** Log decay of the step into row t of sequence bh (time order), or null for none. */
  logDecay: ((bh: number, t: number) => number) | null;
  /**
   * Time runs backwards: run position u is row N-1-u, and the step into it decays by the
   * forward step out of it (logDecay(bh, N-u); none at u = 0).
   */
  reverse?: boolean;
}

export const up = (x: number, m: number): number => Math.ceil(x / m) * m;

/** The factor the running state is kept at (scale * S; 1 * S when scale is 0). */
export const stateScale = (scale: number): number => (scale !== 0 ? scale : 1);

/**
 * Decay factors below 2^-100 count as 0. Every output row also holds its own key with factor 1,
 * so such a term is ~2^-100 of the row's terms, far below float32 resolution; kept, it makes
 * subnormal floats in the SIMD kernels, which x86 runs many times slower (measured with
 * log-sigmoid gates at N = 1024: backward 78 ms with them, 31 ms without).
 */
const TINY = 2 ** -100;
export const cut = (f: number): number => (f < TINY ? 0 : f);

export function reserve(w: LinearKernels, bytes: number): Float32Array {
  const have = w.memory.buffer.byteLength;
  if (bytes > have) w.memory.grow(Math.ceil((bytes - have) / 65536));
  return new Float32Array(w.memory.buffer);
}

/**
 * The decays of one chunk (run positions t0 .. t0 + len - 1 of sequence bh): L[u], the log decay
 * from the state before the chunk to run position u; Lp[p] the same for the row at position p of
 * memory (p = u forward, len-1-u in reverse); step[p] the decay between key p and the next key
 * further from the query, exp(Lp[p] - Lp[p-1]) forward, exp(Lp[p] - Lp[p+1]) in reverse (row
 * order), for decaymask. Returns whether anything in the chunk decays (else L, Lp, step are stale).
 */
export function chunkDecays(r: ChunkPass, bh: number, t0: number, len: number, L: Float64Array, Lp: Float64Array, step: Float64Array): boolean {
  const { logDecay, N } = r;
  const reverse = r.reverse ?? false;
  if (!logDecay) return false;
  let decays = false;
  for (let u = 0, acc = 0; u < len; u++) {
    const t = t0 + u;
    const au = reverse ? (t === 0 ? 0 : logDecay(bh, N - t)) : logDecay(bh, t);
    if (au !== 0) decays = true;
    L[u] = acc += au;
  }
  for (let p = 0; p < len; p++) Lp[p] = L[reverse ? len - 1 - p : p]!;
  for (let p = 0; p < len; p++) {
    const nb = reverse ? p + 1 : p - 1;
    step[p] = nb >= 0 && nb < len ? Math.exp(Lp[p]! - Lp[nb]!) : 0;
  }
  return decays;
}

/**
 * Chunk by chunk: load every operand's rows once, then run each job (y = causal linear attention
 * of its q, k, v operands) into its sink. Returns each job's final states [BH, F, W].
 * The state is kept as scale * S, so the inter-chunk product needs no scaled copy of q when
 * nothing decays (the scale rides on the decayed keys of the state update instead).
 */
export function chunkPass(w: LinearKernels, operands: readonly RowSource[], jobs: readonly ChunkJob[], r: ChunkPass): Float32Array[] {
  const { BH, N, C, scale, logDecay } = r;
  const reverse = r.reverse ?? false;
  // Operand rows are padded to 16 lanes where a job reads them as v (pv), else to 4 (qk); a job's
  // q and k share one stride (qk reads both with one D).
  const stride = operands.map((o, i) => up(o.width, jobs.some((j) => j.v === i) ? 16 : 4));
  for (let changed = true; changed;) {
    changed = false;
    for (const j of jobs) {
      const m = Math.max(stride[j.q]!, stride[j.k]!);
      if (stride[j.q] !== m || stride[j.k] !== m) {
        stride[j.q] = stride[j.k] = m;
        changed = true;
      }
    }
  }
  let at = 0;
  const ops: ChunkOperands = { off: [], stride };
  for (let i = 0; i < operands.length; i++) {
    ops.off.push(at);
    at += C * stride[i]!;
  }
  const sigma = stateScale(scale);
  const chunks = Math.ceil(N / C);
  const qc = scale / sigma;
  const lay = jobs.map((j) => {
    const F = operands[j.q]!.width;
    const W = operands[j.v]!.width;
    if (operands[j.k]!.width !== F) throw new Error(`chunkPass: q has ${F} columns, k ${operands[j.k]!.width}`);
    const Fp = ops.stride[j.q]!;
    const Wp = ops.stride[j.v]!;
    // Per job: Qs (decayed q) | Y | S | A | Kt (decayed keys, transposed).
    const l = { F, W, Fp, Wp, oQs: at, oY: at + C * Fp, oS: at + C * Fp + C * Wp, oA: 0, oKt: 0 };
    l.oA = l.oS + Fp * Wp;
    l.oKt = l.oA + C * C;
    at = l.oKt + Fp * C;
    return l;
  });
  // Per-key factors of the state update; per-row factors (decayed q rows, decayed state); the
  // decay steps between neighbouring keys (float64, 8-byte aligned).
  const oCk = at;
  at += C;
  const oSc = at;
  at += Math.max(C, ...lay.map((l) => l.Fp));
  at += at % 2;
  const oStep = at;
  at += 2 * C;
  const mem = reserve(w, at * 4);
  const step = new Float64Array(mem.buffer, oStep * 4, C);
  mem.fill(0, 0, at);
  const Sall = lay.map((l) => new Float32Array(BH * l.F * l.W));
  // L[u]: log decay from the state before the chunk to run position u of the chunk; Lp[p] the
  // same for the row at position p of memory (p = u forward, len-1-u in reverse).
  const L = new Float64Array(C);
  const Lp = new Float64Array(C);
  for (let bh = 0; bh < BH; bh++) {
    jobs.forEach((j, n) => {
      const { F, W, Wp, oS } = lay[n]!;
      mem.fill(0, oS, oS + ops.stride[j.q]! * Wp);
      if (j.s0) for (let f = 0; f < F; f++) for (let c = 0; c < W; c++) mem[oS + f * Wp + c] = j.s0[(bh * F + f) * W + c]! * sigma;
    });
    for (let t0 = 0; t0 < N; t0 += C) {
      const len = Math.min(C, N - t0);
      // First row (row order) of the chunk's rows.
      const r0 = bh * N + (reverse ? N - t0 - len : t0);
      const decays = chunkDecays(r, bh, t0, len, L, Lp, step);
      operands.forEach((o, i) => o.read(mem, ops.off[i]!, ops.stride[i]!, r0, len, ops));
      for (let n = 0; n < jobs.length; n++) {
        const j = jobs[n]!;
        const { F, Fp, Wp, oQs, oY, oS, oA, oKt } = lay[n]!;
        const oQ = ops.off[j.q]!;
        const oK = ops.off[j.k]!;
        const oV = ops.off[j.v]!;
        mem.fill(0, oY, oY + len * Wp);
        // Intra-chunk: causal (anti-causal in row order when reversed), decayed scores.
        w.qk(oQ * 4, oK * 4, oA * 4, len, len, Fp, scale);
        if (decays) {
          // exp(Lp_i - Lp_j) as a running product of the steps between neighbouring keys (each
          // <= 1, so it only ever shrinks: no overflow, one exp per key instead of per pair).
          w.decaymask(oA * 4, len, oStep * 4, reverse ? 1 : 0);
        } else {
          for (let i = 0; i < len; i++) {
            const row = oA + i * len;
            if (reverse) mem.fill(0, row, row + i);
            else mem.fill(0, row + i + 1, row + len);
          }
        }
        w.pv(oA * 4, oV * 4, oY * 4, len, len, Wp);
        // Inter-chunk: the state before the chunk (scale * S: q needs a factor only for decays).
        if (decays || qc !== 1) {
          for (let i = 0; i < len; i++) mem[oSc + i] = decays ? qc * cut(Math.exp(Lp[i]!)) : qc;
          w.rowscale(oQ * 4, Fp, oQs * 4, Fp, len, Fp, oSc * 4);
          w.pv(oQs * 4, oS * 4, oY * 4, len, Fp, Wp);
        } else {
          w.pv(oQ * 4, oS * 4, oY * 4, len, Fp, Wp);
        }
        j.sink.write(mem, oY, Wp, r0, len, ops);
        if (j.states) j.states.set(mem.subarray(oS, oS + F * Wp), (bh * chunks + t0 / C) * F * Wp);
        if (j.tiles) j.tiles.set(mem.subarray(oA, oA + len * len), (bh * chunks + t0 / C) * C * C);
        // State update.
        const last = L[len - 1]!;
        if (decays && last !== 0) {
          mem.fill(cut(Math.exp(last)), oSc, oSc + Fp);
          w.rowscale(oS * 4, Wp, oS * 4, Wp, Fp, Wp, oSc * 4);
        }
        for (let jj = 0; jj < len; jj++) mem[oCk + jj] = decays ? sigma * cut(Math.exp(last - Lp[jj]!)) : sigma;
        w.tscale(oK * 4, Fp, oKt * 4, len, Fp, oCk * 4);
        w.pv(oKt * 4, oV * 4, oS * 4, F, len, Wp);
      }
    }
    lay.forEach((l, n) => {
      const S = Sall[n]!;
      for (let f = 0; f < l.F; f++) for (let c = 0; c < l.W; c++) S[(bh * l.F + f) * l.W + c] = mem[l.oS + f * l.Wp + c]! / sigma;
    });
  }
  return Sall;
}
