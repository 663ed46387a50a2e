/**
 * The chunk-mode linear-attention backward in one reverse-time pass over the chunks, from the
 * states the forward kept before each chunk (fla's `h` checkpoints). Per chunk, rows in time
 * order u (keys s), M_us = e^{L_u - L_s} for s <= u (else 0), S the state before the chunk and
 * dS the gradient of the state after it (unscaled; dS = dS_fin before the last chunk):
 *
 *   P     = scale (dy v'^T) . M          A = scale (phi(q) phi(k)^T) . M      (qk + decaymask)
 *   dphi(q) = P phi(k)   + scale e^{L_u} dy S^T                              (pv, pv)
 *   dphi(k) = P^T phi(q) + e^{L_last - L_s} v' dS^T                           (pvt, pv)
 *   dv'     = A^T dy     + e^{L_last - L_s} phi(k) dS                         (pvt, pv)
 *   dS   <- e^{L_last} dS + scale (e^{L_u} phi(q))^T dy                       (tscale, pv)
 *
 * P serves two products (pvt reads the transpose in place); the forward's states, and A where
 * it kept the tiles, are not recomputed: four (five) tile products and four state products per
 * chunk instead of the twelve of three separate linear-attention runs (dq forward in time, dk and
 * dv in reverse).
 * Decay factors are flushed below 2^-100 exactly where the forward flushes them.
 */
import { chunkDecays, cut, reserve, stateScale, up, type ChunkOperands, type ChunkPass, type KeptForBackward, type LinearKernels, type RowSink, type RowSource } from './linear-wasm.js';

export interface BackwardOperands {
  /** Gradient rows of the core's output y (W wide), v' = [v, 1] or v (W), phi(q), phi(k) (F). */
  dy: RowSource;
  vp: RowSource;
  fq: RowSource;
  fk: RowSource;
}

/** Sinks get the operands in the order dy, vp, fq, fk (a feature-gradient sink reads phi there). */
export const BWD_OP = { dy: 0, vp: 1, fq: 2, fk: 3 } as const;

export interface BackwardSinks {
  /** dphi(q), dphi(k) rows (F wide), dv' rows (W wide). */
  dq: RowSink;
  dk: RowSink;
  dv: RowSink;
}

/**
 * Runs the pass from what the forward kept: `states` [BH, chunks, F, up(W, 16)] (chunkPass
 * `states`, times stateScale(scale)) and, when given, the score tiles A (chunkPass `tiles`); `dFin` [BH, F, W] the gradient of the final states, or null. Returns dS0
 * [BH, F, W], the gradient of the initial states.
 */
export function chunkBackwardPass(w: LinearKernels, o: BackwardOperands, sinks: BackwardSinks, kept: KeptForBackward, dFin: ArrayLike<number> | null, r: ChunkPass): Float32Array {
  const { states, tiles } = kept;
  const { BH, N, C, scale } = r;
  const F = o.fq.width;
  const W = o.vp.width;
  if (o.fk.width !== F || o.dy.width !== W) throw new Error(`chunkBackwardPass: operand widths ${o.dy.width}/${W}/${F}/${o.fk.width}`);
  // Every operand is read as pv's rows somewhere: pad to 16 lanes.
  const Fp = up(F, 16);
  const Wp = up(W, 16);
  const chunks = Math.ceil(N / C);
  const sigma = stateScale(scale);
  const qc = scale / sigma;
  const ops: ChunkOperands = { off: [], stride: [Wp, Wp, Fp, Fp] };
  let at = 0;
  for (const s of ops.stride) {
    ops.off.push(at);
    at += C * s;
  }
  const [oDy, oVp, oFq, oFk] = ops.off as [number, number, number, number];
  const take = (n: number): number => {
    const x = at;
    at += n;
    return x;
  };
  const oP = take(C * C);
  const oA = take(C * C);
  const oDq = take(C * Fp);
  const oDk = take(C * Fp);
  const oDv = take(C * Wp);
  const oS = take(Fp * Wp); // the forward state before the chunk, [Fp][Wp]
  const oSt = take(Wp * Fp); // its transpose
  const oG = take(Fp * Wp); // dS, [Fp][Wp]
  const oGt = take(Wp * Fp); // its transpose
  const oX = take(C * Math.max(Fp, Wp)); // scaled operand rows
  const oXt = take(Fp * C); // scaled phi(q), transposed
  const oOne = take(Math.max(Fp, Wp, C));
  const oRow = take(Math.max(C, Fp));
  const oKey = take(C);
  at += at % 2;
  const oStep = take(2 * C);
  const mem = reserve(w, at * 4);
  mem.fill(0, 0, at);
  mem.fill(1, oOne, oOne + Math.max(Fp, Wp, C));
  const step = new Float64Array(mem.buffer, oStep * 4, C);
  const L = new Float64Array(C);
  const Lp = new Float64Array(C);
  const sources = [o.dy, o.vp, o.fq, o.fk];
  const dS0 = new Float32Array(BH * F * W);
  const B = (x: number): number => x * 4;
  for (let bh = 0; bh < BH; bh++) {
    mem.fill(0, oG, oG + Fp * Wp);
    let dSzero = true;
    if (dFin) {
      for (let f = 0; f < F; f++) for (let c = 0; c < W; c++) mem[oG + f * Wp + c] = dFin[(bh * F + f) * W + c]!;
      dSzero = false;
    }
    for (let ci = chunks - 1; ci >= 0; ci--) {
      const t0 = ci * C;
      const len = Math.min(C, N - t0);
      const r0 = bh * N + t0;
      const decays = chunkDecays(r, bh, t0, len, L, Lp, step);
      const last = decays ? L[len - 1]! : 0;
      sources.forEach((s, i) => s.read(mem, ops.off[i]!, ops.stride[i]!, r0, len, ops));
      // The two score tiles, causal and decayed as in the forward.
      w.qk(B(oDy), B(oVp), B(oP), len, len, Wp, scale);
      if (tiles) mem.set(tiles.subarray((bh * chunks + ci) * C * C, (bh * chunks + ci) * C * C + len * len), oA);
      else w.qk(B(oFq), B(oFk), B(oA), len, len, Fp, scale);
      for (const t of tiles ? [oP] : [oP, oA]) {
        if (decays) w.decaymask(B(t), len, B(oStep), 0);
        else for (let i = 0; i < len; i++) mem.fill(0, t + i * len + i + 1, t + (i + 1) * len);
      }
      mem.fill(0, oDq, oDq + len * Fp);
      mem.fill(0, oDk, oDk + len * Fp);
      mem.fill(0, oDv, oDv + len * Wp);
      w.pv(B(oP), B(oFk), B(oDq), len, len, Fp);
      w.pvt(B(oP), B(oFq), B(oDk), len, len, Fp, len);
      w.pvt(B(oA), B(oDy), B(oDv), len, len, Wp, len);
      // dq from the state before the chunk (zero before the first chunk without s0: stored as 0).
      const base = (bh * chunks + ci) * F * Wp;
      mem.set(states.subarray(base, base + F * Wp), oS);
      w.tscale(B(oS), Wp, B(oSt), Fp, Wp, B(oOne));
      if (decays || qc !== 1) {
        for (let u = 0; u < len; u++) mem[oRow + u] = decays ? qc * cut(Math.exp(L[u]!)) : qc;
        w.rowscale(B(oDy), Wp, B(oX), Wp, len, Wp, B(oRow));
        w.pv(B(oX), B(oSt), B(oDq), len, Wp, Fp);
      } else {
        w.pv(B(oDy), B(oSt), B(oDq), len, Wp, Fp);
      }
      // dk, dv from the gradient of the state after the chunk.
      if (!dSzero) {
        w.tscale(B(oG), Wp, B(oGt), Fp, Wp, B(oOne));
        if (decays) {
          for (let s = 0; s < len; s++) mem[oKey + s] = cut(Math.exp(last - L[s]!));
          w.rowscale(B(oVp), Wp, B(oX), Wp, len, Wp, B(oKey));
          w.pv(B(oX), B(oGt), B(oDk), len, Wp, Fp);
          w.rowscale(B(oFk), Fp, B(oX), Fp, len, Fp, B(oKey));
          w.pv(B(oX), B(oG), B(oDv), len, Fp, Wp);
        } else {
          w.pv(B(oVp), B(oGt), B(oDk), len, Wp, Fp);
          w.pv(B(oFk), B(oG), B(oDv), len, Fp, Wp);
        }
      }
      sinks.dq.write(mem, oDq, Fp, r0, len, ops);
      sinks.dk.write(mem, oDk, Fp, r0, len, ops);
      sinks.dv.write(mem, oDv, Wp, r0, len, ops);
      // dS before the chunk.
      if (decays && last !== 0) {
        mem.fill(cut(Math.exp(last)), oRow, oRow + Fp);
        w.rowscale(B(oG), Wp, B(oG), Wp, Fp, Wp, B(oRow));
      }
      for (let u = 0; u < len; u++) mem[oKey + u] = decays ? scale * cut(Math.exp(L[u]!)) : scale;
      w.tscale(B(oFq), Fp, B(oXt), len, Fp, B(oKey));
      w.pv(B(oXt), B(oDy), B(oG), Fp, len, Wp);
      dSzero = false;
    }
    for (let f = 0; f < F; f++) for (let c = 0; c < W; c++) dS0[(bh * F + f) * W + c] = mem[oG + f * Wp + c]!;
  }
  return dS0;
}
