/**
 * Chunk-mode linear attention forward and backward on the CPU's WebAssembly kernels, streamed:
 * every operand is built chunk by chunk inside WebAssembly memory from the caller's arrays
 * (feature maps, [v, 1], the gradient rows of the normalised output) and every result is written
 * straight into the caller's output arrays (normalised output, dq/dk through the feature map's
 * derivative, dv). Nothing of size N is allocated besides the outputs (and, when a backward will
 * follow, one normaliser per row), so time per token does not grow with N.
 *
 * The backward is one reverse-time pass (cpu/linear-backward.ts) from the per-chunk states the
 * forward kept, when they fit (keptStatesSize); otherwise linear-core.ts's linearCoreBackward
 * algebra as three chunk runs (dq forward in time, dk and dv in reverse time), which keep nothing.
 */
import { featurize, featurizeBackward, type FeatureMap } from '../reference/linear.js';
import { chunkPass, type KeptForBackward, type LinearKernels, type RowSink, type RowSource } from './linear-wasm.js';
import { BWD_OP, chunkBackwardPass } from './linear-backward.js';

export interface LinearProblem {
  w: LinearKernels;
  map: FeatureMap;
  /** Head dim of q/k, of v, feature dim, state width (Dv + 1 when normalised). */
  D: number;
  Dv: number;
  F: number;
  W: number;
  normalize: boolean;
  /** The feature map's scale (taylor2) and the output's (1 for taylor2). */
  featScale: number;
  outScale: number;
  BH: number;
  N: number;
  C: number;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** log lambda per (b, h) row of BH. */
  logLam: Float64Array;
  /** [BH, N] log decay per token, or null. */
  gate: Float32Array | null;
  /** [BH, F, W] or null. */
  s0: Float32Array | null;
}

/** Log decay of the step into row t of sequence bh, or null when nothing decays. */
function logDecayOf(p: LinearProblem): ((bh: number, t: number) => number) | null {
  const { logLam, gate, N } = p;
  if (gate) return (bh, t) => logLam[bh]! + gate[bh * N + t]!;
  return logLam.some((l) => l !== 0) ? (bh) => logLam[bh]! : null;
}

/** Rows of x [rows, width]. */
function rawRows(x: Float32Array, width: number): RowSource {
  return {
    width,
    read(mem, off, stride, r0, len) {
      if (stride === width) {
        mem.set(x.subarray(r0 * width, (r0 + len) * width), off);
        return;
      }
      for (let i = 0; i < len; i++) {
        const xo = (r0 + i) * width;
        const mo = off + i * stride;
        for (let c = 0; c < width; c++) mem[mo + c] = x[xo + c]!;
      }
    },
  };
}

/** [v, 1]: v's rows with the normaliser's column of ones. */
function onesRows(x: Float32Array, width: number): RowSource {
  const raw = rawRows(x, width);
  return {
    width: width + 1,
    read(mem, off, stride, r0, len, ops) {
      raw.read(mem, off, stride, r0, len, ops);
      for (let i = 0; i < len; i++) mem[off + i * stride + width] = 1;
    },
  };
}

/** Rows of q whose elu1 features are rescaled (no positive entry, or NaN), with their maxima. */
interface Rescaled {
  rows: Int32Array;
  max: Float64Array;
}

const rescaledOf = new WeakMap<LinearProblem, Rescaled>();

/** One pass over q per problem (the forward and the backward share it). */
function rescaled(p: LinearProblem): Rescaled {
  let r = rescaledOf.get(p);
  if (r) return r;
  const { q, D } = p;
  const rows: number[] = [];
  const max: number[] = [];
  for (let row = 0, n = q.length / D; row < n; row++) {
    let m = -Infinity;
    for (let d = row * D, e = d + D; d < e; d++) m = Math.max(m, q[d]!);
    if (!(m > 0)) {
      rows.push(row);
      max.push(m);
    }
  }
  r = { rows: Int32Array.from(rows), max: Float64Array.from(max) };
  rescaledOf.set(p, r);
  return r;
}

/**
 * phi(x) rows. `rescale` (elu1 with normalize): a row with no positive entry is divided by
 * e^{max}: the output does not change (numerator and normaliser scale alike) and float32 no
 * longer underflows on rows like x = -120. elu1 runs in WebAssembly (NaN stays NaN).
 */
function featureRows(w: LinearKernels, map: FeatureMap, x: Float32Array, D: number, F: number, scale: number, rescale: Rescaled | null): RowSource {
  if (map === 'taylor2') {
    return {
      width: F,
      read(mem, off, stride, r0, len) {
        for (let i = 0; i < len; i++) mem.set(featurize(map, x, (r0 + i) * D, D, scale), off + i * stride);
      },
    };
  }
  const raw = rawRows(x, D);
  if (map === 'identity') return raw;
  if (map === 'relu') {
    return {
      width: D,
      read(mem, off, stride, r0, len) {
        for (let i = 0; i < len; i++) {
          const xo = (r0 + i) * D;
          const mo = off + i * stride;
          for (let d = 0; d < D; d++) mem[mo + d] = Math.max(x[xo + d]!, 0);
        }
      },
    };
  }
  return {
    width: D,
    read(mem, off, stride, r0, len, ops) {
      raw.read(mem, off, stride, r0, len, ops);
      w.elu1(off * 4, len * stride);
      if (stride !== D) for (let i = 0; i < len; i++) mem.fill(0, off + i * stride + D, off + (i + 1) * stride);
      if (!rescale || rescale.rows.length === 0) return;
      const { rows, max } = rescale;
      // First listed row >= r0.
      let lo = 0;
      let hi = rows.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (rows[mid]! < r0) lo = mid + 1;
        else hi = mid;
      }
      for (let n = lo; n < rows.length && rows[n]! < r0 + len; n++) {
        const xo = rows[n]! * D;
        const mo = off + (rows[n]! - r0) * stride;
        const m = max[n]!;
        for (let d = 0; d < D; d++) mem[mo + d] = Math.exp(x[xo + d]! - m);
      }
    },
  };
}

/**
 * dy: the gradient of the core's rows y from the gradient of the output o = y[:Dv] / y[Dv]:
 * dy[c] = do[c] / y[Dv], dy[Dv] = -(do . o) / y[Dv] (zero rows where y[Dv] is 0); without
 * normalisation dy = do. `width`: Dv, or W to include the normaliser's column.
 */
function gradRows(p: LinearProblem, gOut: Float32Array, out: Float32Array, den: Float32Array | null, width: number): RowSource {
  const { Dv } = p;
  if (!p.normalize) return rawRows(gOut, Dv);
  return {
    width,
    read(mem, off, stride, r0, len) {
      for (let i = 0; i < len; i++) {
        const r = r0 + i;
        const mo = off + i * stride;
        const d = den![r]!;
        if (d === 0) {
          mem.fill(0, mo, mo + width);
          continue;
        }
        let dot = 0;
        for (let c = 0; c < Dv; c++) {
          const go = gOut[r * Dv + c]!;
          mem[mo + c] = go / d;
          dot += go * out[r * Dv + c]!;
        }
        if (width > Dv) mem[mo + Dv] = -dot / d;
      }
    },
  };
}

/** The output o = y[:Dv] / y[Dv] (0 where y[Dv] is 0), or y itself; keeps y[Dv] per row in `den`. */
function outputSink(p: LinearProblem, out: Float32Array, den: Float32Array | null): RowSink {
  const { Dv, normalize } = p;
  return {
    write(mem, off, stride, r0, len) {
      for (let i = 0; i < len; i++) {
        const r = r0 + i;
        const yo = off + i * stride;
        if (!normalize) {
          for (let c = 0; c < Dv; c++) out[r * Dv + c] = mem[yo + c]!;
          continue;
        }
        const d = mem[yo + Dv]!;
        if (den) den[r] = d;
        if (d === 0) continue;
        for (let c = 0; c < Dv; c++) out[r * Dv + c] = mem[yo + c]! / d;
      }
    },
  };
}

/**
 * dx = dphi . phi'(x) into `dx` [rows, D]; `dots` (for the gate gradient) gets sign * phi(x) . dphi
 * per row. phi(x) is operand `phiOp` of the pass, when given (elu1: phi' = phi for x <= 0, also on
 * rescaled rows, whose dphi carries the factor back).
 */
function featureGradSink(p: LinearProblem, phiOp: number, x: Float32Array, dx: Float32Array, dots: Float64Array | null, sign: number): RowSink {
  const { w, map, D, F, featScale } = p;
  return {
    write(mem, off, stride, r0, len, ops) {
      if (map === 'elu1') {
        if (dots) {
          for (let i = 0; i < len; i++) {
            const go = off + i * stride;
            const po = ops.off[phiOp]! + i * ops.stride[phiOp]!;
            let s = 0;
            for (let f = 0; f < F; f++) s += mem[po + f]! * mem[go + f]!;
            dots[r0 + i] = dots[r0 + i]! + sign * s;
          }
        }
        // phi' from phi in SIMD, in place, then the rows out.
        w.elu1grad(ops.off[phiOp]! * 4, ops.stride[phiOp]!, off * 4, stride, len, Math.ceil(D / 4) * 4);
        if (stride === D) dx.set(mem.subarray(off, off + len * D), r0 * D);
        else for (let i = 0; i < len; i++) dx.set(mem.subarray(off + i * stride, off + i * stride + D), (r0 + i) * D);
        return;
      }
      for (let i = 0; i < len; i++) {
        const r = r0 + i;
        const go = off + i * stride;
        const po = phiOp < 0 ? 0 : ops.off[phiOp]! + i * ops.stride[phiOp]!;
        const xo = r * D;
        if (dots) {
          let s = 0;
          for (let f = 0; f < F; f++) s += mem[po + f]! * mem[go + f]!;
          dots[r] = dots[r]! + sign * s;
        }
        if (map === 'taylor2') {
          dx.set(featurizeBackward(map, x, xo, D, featScale, Float64Array.from(mem.subarray(go, go + F))), xo);
        } else if (map === 'identity') {
          for (let d = 0; d < D; d++) dx[xo + d] = mem[go + d]!;
        } else {
          for (let d = 0; d < D; d++) dx[xo + d] = x[xo + d]! > 0 ? mem[go + d]! : 0;
        }
      }
    },
  };
}

/** The first `width` columns of operand `op` of the pass. */
function narrowed(op: number, width: number): RowSource {
  return {
    width,
    read(mem, off, stride, _r0, len, ops) {
      for (let i = 0; i < len; i++) {
        const from = ops.off[op]! + i * ops.stride[op]!;
        mem.copyWithin(off + i * stride, from, from + width);
      }
    },
  };
}

/** First `cols` columns of each row into `dst` [rows, cols]. */
function copySink(dst: Float32Array, cols: number): RowSink {
  return {
    write(mem, off, stride, r0, len) {
      for (let i = 0; i < len; i++) {
        const mo = off + i * stride;
        dst.set(mem.subarray(mo, mo + cols), (r0 + i) * cols);
      }
    },
  };
}

/** [BH, R, Cc] -> [BH, Cc, R], times c. */
function transposeStates(x: ArrayLike<number>, BH: number, R: number, Cc: number, c = 1): Float32Array {
  const o = new Float32Array(BH * R * Cc);
  for (let bh = 0; bh < BH; bh++) {
    const b = bh * R * Cc;
    for (let r = 0; r < R; r++) for (let j = 0; j < Cc; j++) o[b + j * R + r] = x[b + r * Cc + j]! * c;
  }
  return o;
}

/**
 * Floats a forward keeps for the one-pass backward, within as many floats as q, k and v take:
 * the per-chunk states (else nothing: a small chunk with a wide feature map; the backward then
 * runs the three-pass form, which keeps nothing) and, where they fit beside them, the score tiles.
 */
export function keptSizes(p: LinearProblem): { states: number; tiles: number } {
  const cap = p.BH * p.N * (2 * p.D + p.Dv);
  const states = statesSize(p);
  if (states > cap) return { states: 0, tiles: 0 };
  const tiles = tilesSize(p);
  return { states, tiles: states + tiles <= cap ? tiles : 0 };
}

/** Floats of the per-chunk score tiles (C x C each). */
export function tilesSize(p: LinearProblem): number {
  return p.BH * Math.ceil(p.N / p.C) * p.C * p.C;
}

/** Floats of the per-chunk states (rows padded to 16 floats, as the kernels hold them). */
export function statesSize(p: LinearProblem): number {
  return p.BH * Math.ceil(p.N / p.C) * p.F * Math.ceil(p.W / 16) * 16;
}

/**
 * Forward into `out` [BH*N, Dv]; `den` [BH*N] (normalised, when a backward follows) gets each
 * row's normaliser; `kept` (keptSizes floats) the state before each chunk and the score tiles, for
 * the backward.
 * Returns the final states [BH, F, W].
 */
export function linearForwardStream(p: LinearProblem, out: Float32Array, den: Float32Array | null, kept: KeptForBackward | null = null): Float32Array {
  const { w, map, D, Dv, F, featScale, normalize } = p;
  const fq = featureRows(w, map, p.q, D, F, featScale, normalize && map === 'elu1' ? rescaled(p) : null);
  const fk = featureRows(w, map, p.k, D, F, featScale, null);
  const v = normalize ? onesRows(p.v, Dv) : rawRows(p.v, Dv);
  const pass = { BH: p.BH, N: p.N, C: p.C, scale: p.outScale, logDecay: logDecayOf(p) };
  return chunkPass(w, [fq, fk, v], [{ q: 0, k: 1, v: 2, sink: outputSink(p, out, den), s0: p.s0, ...(kept ? { states: kept.states, ...(kept.tiles ? { tiles: kept.tiles } : {}) } : {}) }], pass)[0]!;
}

export interface StreamGrads {
  /** [BH*N, D] */
  dq: Float32Array;
  dk: Float32Array;
  /** [BH*N, Dv] */
  dv: Float32Array;
  /** [BH, F, W], wanted when s0 was given. */
  dS0: Float32Array | null;
  /** [BH*N], wanted with a gate. */
  dGate: Float32Array | null;
}

/**
 * Gradients of <gOut, out> + <gFin, S_final> into `g`. `out`, `den`, `S` are the forward's
 * output, normalisers and final states; `kept` what it kept for the one-pass backward, or null.
 */
export function linearBackwardStream(p: LinearProblem, out: Float32Array, den: Float32Array | null, S: Float32Array, kept: KeptForBackward | null, gOut: Float32Array, gFin: Float32Array | null, g: StreamGrads): void {
  const { w, map, D, Dv, F, W, BH, N, C, featScale, normalize, outScale: scale } = p;
  const logDecay = logDecayOf(p);
  const fq = featureRows(w, map, p.q, D, F, featScale, normalize && map === 'elu1' ? rescaled(p) : null);
  const fk = featureRows(w, map, p.k, D, F, featScale, null);
  const vp = normalize ? onesRows(p.v, Dv) : rawRows(p.v, Dv);
  const dy = gradRows(p, gOut, out, den, W);
  const dots = g.dGate ? new Float64Array(BH * N) : null;
  const pass = { BH, N, C, scale, logDecay };
  if (kept) {
    const sinks = {
      dq: featureGradSink(p, BWD_OP.fq, p.q, g.dq, dots, 1),
      dk: featureGradSink(p, BWD_OP.fk, p.k, g.dk, dots, -1),
      dv: copySink(g.dv, Dv),
    };
    const dS0 = chunkBackwardPass(w, { dy, vp, fq, fk }, sinks, kept, gFin, pass);
    if (g.dS0) g.dS0.set(dS0);
    gateGrad(p, S, gFin, dots, g.dGate);
    return;
  }
  // The three runs divide by the scale: with scale 0 (every path through the output carries the
  // factor 0, only the final state's gradient flows) they run with scale 1 on dy = 0.
  const s3 = scale !== 0 ? scale : 1;
  const dy3: RowSource = scale !== 0 ? dy : { width: W, read: (mem, off, stride, _r0, len) => mem.fill(0, off, off + len * stride) };
  const pass3 = { ...pass, scale: s3 };
  // phi(x) is needed beside dphi for elu1's derivative and for the gate gradient's dots.
  const needPhi = map === 'elu1' || dots !== null;
  // dq_t = scale (sum_{s<=t} w_ts (dy_t . v_s) phi(k_s) + e^{G_t} dy_t S0^T): the core on (dy, v', phi(k), S0^T).
  const dqOps = needPhi ? [dy3, vp, fk, fq] : [dy3, vp, fk];
  chunkPass(w, dqOps, [{ q: 0, k: 1, v: 2, sink: featureGradSink(p, needPhi ? 3 : -1, p.q, g.dq, dots, 1), s0: p.s0 ? transposeStates(p.s0, BH, F, W) : null }], pass3);
  // dk and dv look forward in time: one reverse-time pass runs both cores (on (v', dy, phi(q))
  // and (phi(k), phi(q), dy)), with dS_fin / scale as their initial states.
  const init = gFin ? Float32Array.from(gFin, (x) => x / s3) : null;
  // dv of the first Dv columns only, unless dS0 (which needs the normaliser's column too) is wanted.
  const Wd = g.dS0 ? W : Dv;
  let initD: Float32Array | null = init;
  if (init && Wd < W) {
    initD = new Float32Array(BH * F * Wd);
    for (let r = 0; r < BH * F; r++) for (let c = 0; c < Wd; c++) initD[r * Wd + c] = init[r * W + c]!;
  }
  const revOps = Wd < W ? [vp, dy3, fq, fk, narrowed(1, Wd)] : [vp, dy3, fq, fk];
  const [, Sr] = chunkPass(w, revOps, [
    { q: 0, k: 1, v: 2, sink: featureGradSink(p, 3, p.k, g.dk, dots, -1), s0: init ? transposeStates(init, BH, F, W) : null },
    { q: 3, k: 2, v: Wd < W ? 4 : 1, sink: copySink(g.dv, Dv), s0: initD },
  ], { ...pass3, reverse: true });
  // dS0 = e^{a_0} scale S_final(reverse run) (that run starts one step after row 0's decay).
  if (g.dS0) {
    if (N === 0) {
      if (gFin) g.dS0.set(gFin);
    } else {
      for (let bh = 0; bh < BH; bh++) {
        const c = Math.exp(logDecay ? logDecay(bh, 0) : 0) * s3;
        for (let i = 0; i < F * W; i++) g.dS0[bh * F * W + i] = c * Sr![bh * F * W + i]!;
      }
    }
  }
  gateGrad(p, S, gFin, dots, g.dGate);
}

/** Gate: dG_t = phi(q_t) . dq_t - phi(k_t) . dk_t (+ <dS_fin, S_fin> at t = N-1), da_t = sum_{t' >= t} dG_t'. */
function gateGrad(p: LinearProblem, S: Float32Array, gFin: Float32Array | null, dots: Float64Array | null, dGate: Float32Array | null): void {
  const { BH, N, F, W } = p;
  if (dGate && dots) {
    for (let bh = 0; bh < BH; bh++) {
      let acc = 0;
      if (gFin && N > 0) for (let i = 0; i < F * W; i++) acc += gFin[bh * F * W + i]! * S[bh * F * W + i]!;
      for (let t = N - 1; t >= 0; t--) {
        const r = bh * N + t;
        acc += dots[r]!;
        dGate[r] = acc;
      }
    }
  }
}
