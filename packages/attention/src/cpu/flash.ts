/**
 * CPU flash attention on Float32Arrays: the same tile schedule as the WGSL kernel (absent
 * tiles skipped, mask evaluated only on partial tiles), online softmax per row, float64
 * accumulation in JS numbers. Memory is O(tile), never Nq x Nk.
 *
 * Special values follow the float64 reference and PyTorch: a masked key and a score of
 * -Infinity are excluded; a NaN score makes the row's out and lse NaN, a +Infinity one (softmax)
 * out NaN and lse +Infinity; a row with nothing left gives out 0 and lse -Infinity. The backward
 * and the probe recompute each row's max and sum in float64 instead of trusting the float32 lse,
 * which loses log(sum) once the scores are large (|s| >= 1e8) and then gave wrong or infinite
 * gradients.
 */
import type { FlashPlan } from '../flash-plan.js';

type MaskEval = (b: number, h: number, q: number, k: number) => boolean;
type ScoreEval = (s: number, b: number, h: number, q: number, k: number) => number;

interface Tiles {
  /** Active key blocks for (b, h, q block): partial ones first, then full. */
  blocks(b: number, h: number, qb: number): { list: Int32Array; nPartial: number };
  qBlock: number;
  kBlock: number;
}

function tilesOf(plan: FlashPlan): Tiles {
  const bm = plan.blockMask;
  const { Nk } = plan.dims;
  if (!bm) {
    const kBlock = 64;
    const all = Int32Array.from({ length: Math.ceil(Nk / kBlock) }, (_, i) => i);
    return { qBlock: 64, kBlock, blocks: () => ({ list: all, nPartial: 0 }) };
  }
  return {
    qBlock: bm.qBlock,
    kBlock: bm.kBlock,
    blocks(b, h, qb) {
      const row = bm.rowOf(b, h) * bm.nQB + qb;
      const at = row * bm.nKB;
      const np = bm.kvNum[row]!;
      const nf = bm.fullKvNum[row]!;
      const list = new Int32Array(np + nf);
      list.set(bm.kvIdx.subarray(at, at + np), 0);
      list.set(bm.fullKvIdx.subarray(at, at + nf), np);
      return { list, nPartial: np };
    },
  };
}

function evaluators(plan: FlashPlan): { mask: MaskEval | null; mod: ScoreEval | null; dmod: ScoreEval | null } {
  const { Nq, Nk } = plan.dims;
  const mask = plan.mask ? plan.mask.evaluator(Nq, Nk) : null;
  const [mod, dmod] = plan.scoreMod ? plan.scoreMod.evaluators(Nq, Nk) : [null, null];
  return { mask, mod, dmod };
}

const sigm = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

export interface CpuFlashOut {
  out: Float32Array;
  lse: Float32Array;
}

export function flashForwardCpu(plan: FlashPlan, q: Float32Array, k: Float32Array, v: Float32Array, sigmoid: boolean, sigBias: number): CpuFlashOut {
  const { B, Hq, Hkv, Nq, Nk, D } = plan.dims;
  const Dv = plan.dims.Dv ?? D;
  const scale = plan.params.scale;
  const G = Hq / Hkv;
  const out = new Float32Array(B * Hq * Nq * Dv);
  const lse = new Float32Array(B * Hq * Nq);
  const tiles = tilesOf(plan);
  const { mask, mod } = evaluators(plan);
  const { qBlock, kBlock } = tiles;
  const acc = new Float64Array(qBlock * Dv);
  const m = new Float64Array(qBlock);
  const l = new Float64Array(qBlock);
  const srow = new Float64Array(kBlock);
  const bad = new Uint8Array(qBlock);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kvBase = (b * Hkv + Math.floor(h / G)) * Nk;
      for (let qb = 0; qb * qBlock < Nq; qb++) {
        const q0 = qb * qBlock;
        const q1 = Math.min(q0 + qBlock, Nq);
        acc.fill(0);
        m.fill(-Infinity);
        l.fill(0);
        bad.fill(0);
        const { list, nPartial } = tiles.blocks(b, h, qb);
        for (let t = 0; t < list.length; t++) {
          const kb = list[t]!;
          const partial = t < nPartial;
          const k0 = kb * kBlock;
          const k1 = Math.min(k0 + kBlock, Nk);
          for (let i = q0; i < q1; i++) {
            const qo = ((b * Hq + h) * Nq + i) * D;
            const ri = i - q0;
            let tmax = -Infinity;
            for (let j = k0; j < k1; j++) {
              if (partial && !mask!(b, h, i, j)) {
                srow[j - k0] = -Infinity;
                continue;
              }
              const ko = (kvBase + j) * D;
              let s = 0;
              let d = 0;
              for (; d + 3 < D; d += 4) s += q[qo + d]! * k[ko + d]! + q[qo + d + 1]! * k[ko + d + 1]! + q[qo + d + 2]! * k[ko + d + 2]! + q[qo + d + 3]! * k[ko + d + 3]!;
              for (; d < D; d++) s += q[qo + d]! * k[ko + d]!;
              s *= scale;
              if (mod) s = mod(s, b, h, i, j);
              if (s !== s || (s === Infinity && !sigmoid)) {
                bad[ri]! |= s !== s ? 2 : 1;
                s = -Infinity;
              }
              srow[j - k0] = s;
              if (s > tmax) tmax = s;
            }
            if (tmax === -Infinity) continue;
            const ao = ri * Dv;
            if (sigmoid) {
              for (let j = k0; j < k1; j++) {
                const s = srow[j - k0]!;
                if (s === -Infinity) continue;
                const p = sigm(s + sigBias);
                l[ri]! += p;
                const vo = (kvBase + j) * Dv;
                for (let d = 0; d < Dv; d++) acc[ao + d]! += p * v[vo + d]!;
              }
              continue;
            }
            const mOld = m[ri]!;
            if (tmax > mOld) {
              const corr = Math.exp(mOld - tmax);
              l[ri]! *= corr;
              for (let d = 0; d < Dv; d++) acc[ao + d]! *= corr;
              m[ri] = tmax;
            }
            const mi = m[ri]!;
            for (let j = k0; j < k1; j++) {
              const s = srow[j - k0]!;
              if (s === -Infinity) continue;
              const p = Math.exp(s - mi);
              l[ri]! += p;
              const vo = (kvBase + j) * Dv;
              for (let d = 0; d < Dv; d++) acc[ao + d]! += p * v[vo + d]!;
            }
          }
        }
        for (let i = q0; i < q1; i++) {
          const ri = i - q0;
          const r = (b * Hq + h) * Nq + i;
          const li = l[ri]!;
          if (bad[ri]) {
            out.fill(NaN, r * Dv, (r + 1) * Dv);
            lse[r] = bad[ri]! & 2 ? NaN : Infinity;
          } else if (li > 0) {
            const inv = sigmoid ? 1 : 1 / li;
            for (let d = 0; d < Dv; d++) out[r * Dv + d] = acc[ri * Dv + d]! * inv;
            lse[r] = sigmoid ? Math.log(li) : m[ri]! + Math.log(li);
          } else {
            lse[r] = -Infinity;
          }
        }
      }
    }
  }
  return { out, lse };
}

/** Gradients into a scoreMod's captured tensors: per read, d(score)/d(element) and its flat index. */
export interface CaptureGrads {
  reads: { cap: number; partial: ScoreEval; index: ScoreEval }[];
  /** Capture index -> gradient (float64, row-major like the tensor); accumulated into. */
  out: Map<number, Float64Array>;
}

/** Scores of one row in float64 (kept keys only) and the row's softmax statistics. */
interface RowScores {
  raw: Float64Array;
  s: Float64Array;
  keep: Uint8Array;
}

function rowScores(
  plan: FlashPlan, tiles: Tiles, ev: ReturnType<typeof evaluators>, q: Float32Array, k: Float32Array, b: number, h: number, i: number, kvBase: number, row: RowScores,
): void {
  const { Nk, D } = plan.dims;
  const scale = plan.params.scale;
  const { list, nPartial } = tiles.blocks(b, h, Math.floor(i / tiles.qBlock));
  const qo = (((b * plan.dims.Hq + h) * plan.dims.Nq) + i) * D;
  row.keep.fill(0);
  for (let t = 0; t < list.length; t++) {
    const k0 = list[t]! * tiles.kBlock;
    const k1 = Math.min(k0 + tiles.kBlock, Nk);
    for (let j = k0; j < k1; j++) {
      if (t < nPartial && !ev.mask!(b, h, i, j)) continue;
      const ko = (kvBase + j) * D;
      let raw = 0;
      for (let d = 0; d < D; d++) raw += q[qo + d]! * k[ko + d]!;
      raw *= scale;
      row.raw[j] = raw;
      row.s[j] = ev.mod ? ev.mod(raw, b, h, i, j) : raw;
      row.keep[j] = 1;
    }
  }
}

/**
 * Softmax max and sum of a row in float64: m is NaN when a score poisons the row (NaN, or
 * +Infinity under softmax); l = 0 when nothing is left (every key masked or -Infinity).
 */
function rowStats(row: RowScores, nk: number, sigmoid: boolean, sigBias: number): { m: number; l: number } {
  let m = -Infinity;
  let bad = false;
  for (let j = 0; j < nk; j++) {
    if (!row.keep[j]) continue;
    const s = row.s[j]!;
    if (s !== s || (s === Infinity && !sigmoid)) bad = true;
    else if (s > m) m = s;
  }
  if (sigmoid) {
    let l = 0;
    for (let j = 0; j < nk; j++) if (row.keep[j] && row.s[j] !== -Infinity) l += sigm(row.s[j]! + sigBias);
    return { m: 0, l };
  }
  if (bad) return { m: NaN, l: NaN };
  if (m === -Infinity) return { m, l: 0 };
  let l = 0;
  for (let j = 0; j < nk; j++) if (row.keep[j] && row.s[j] !== -Infinity) l += Math.exp(row.s[j]! - m);
  return { m, l };
}

/**
 * Gradients of <dOut, out> + <dLse, lse>: per row, the scores, max and sum are recomputed in
 * float64 (independent of the float32 forward), then p = exp(s - m) / l (FlashAttention-2's
 * recompute, with delta = sum_j p_j dp_j taken exactly instead of from the float32 out).
 */
export function flashBackwardCpu(
  plan: FlashPlan, q: Float32Array, k: Float32Array, v: Float32Array, _out: Float32Array, _lse: Float32Array,
  dOut: Float32Array, dLse: Float32Array | null, sigmoid: boolean, sigBias: number,
  capGrads?: CaptureGrads,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { B, Hq, Hkv, Nq, Nk, D } = plan.dims;
  const Dv = plan.dims.Dv ?? D;
  const scale = plan.params.scale;
  const G = Hq / Hkv;
  const tiles = tilesOf(plan);
  const ev = evaluators(plan);
  const dmod = ev.dmod;
  const dq = new Float32Array(B * Hq * Nq * D);
  const dk64 = new Float64Array(B * Hkv * Nk * D);
  const dv64 = new Float64Array(B * Hkv * Nk * Dv);
  const dqRow = new Float64Array(D);
  const row: RowScores = { raw: new Float64Array(Nk), s: new Float64Array(Nk), keep: new Uint8Array(Nk) };
  const dpRow = new Float64Array(Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kvBase = (b * Hkv + Math.floor(h / G)) * Nk;
      for (let i = 0; i < Nq; i++) {
        const r = (b * Hq + h) * Nq + i;
        rowScores(plan, tiles, ev, q, k, b, h, i, kvBase, row);
        const { m, l } = rowStats(row, Nk, sigmoid, sigBias);
        if (l === 0) continue; // nothing attended: out 0 and lse -Infinity carry no gradient
        const qo = r * D;
        const dl = dLse ? dLse[r]! : 0;
        // dp_j = dOut . v_j and delta = sum_j p_j dp_j - dLse (softmax); -dLse / l (sigmoid).
        let delta = sigmoid ? -dl / l : -dl;
        for (let j = 0; j < Nk; j++) {
          if (!row.keep[j] || row.s[j] === -Infinity) continue;
          const vo = (kvBase + j) * Dv;
          const oo = r * Dv;
          let dp = 0;
          for (let d = 0; d < Dv; d++) dp += dOut[oo + d]! * v[vo + d]!;
          dpRow[j] = dp;
          if (!sigmoid) delta += (Math.exp(row.s[j]! - m) / l) * dp;
        }
        dqRow.fill(0);
        for (let j = 0; j < Nk; j++) {
          if (!row.keep[j] || row.s[j] === -Infinity) continue;
          const s = row.s[j]!;
          const ko = (kvBase + j) * D;
          let p: number;
          let ds: number;
          if (sigmoid) {
            p = sigm(s + sigBias);
            ds = (dpRow[j]! - delta) * p * (1 - p);
          } else {
            p = Math.exp(s - m) / l;
            ds = p * (dpRow[j]! - delta);
          }
          if (capGrads) {
            for (const r of capGrads.reads) capGrads.out.get(r.cap)![r.index(row.raw[j]!, b, h, i, j)]! += ds * r.partial(row.raw[j]!, b, h, i, j);
          }
          if (dmod) ds *= dmod(row.raw[j]!, b, h, i, j);
          const c = ds * scale;
          for (let d = 0; d < D; d++) {
            dqRow[d]! += c * k[ko + d]!;
            dk64[ko + d]! += c * q[qo + d]!;
          }
          const vo = (kvBase + j) * Dv;
          const oo = r * Dv;
          for (let d = 0; d < Dv; d++) dv64[vo + d]! += p * dOut[oo + d]!;
        }
        for (let d = 0; d < D; d++) dq[qo + d] = dqRow[d]!;
      }
    }
  }
  return { dq, dk: Float32Array.from(dk64), dv: Float32Array.from(dv64) };
}

/** Probabilities [heads.length, rows, Nk] for batch b, recomputed from lse (softmax) or directly (sigmoid). */
export function probsCpu(
  plan: FlashPlan, q: Float32Array, k: Float32Array, _lse: Float32Array, b: number, heads: number[], rows: [number, number], sigmoid: boolean, sigBias: number,
): Float32Array {
  const { Hq, Hkv, Nk } = plan.dims;
  const G = Hq / Hkv;
  // Every key is visited (no block table): a probe row is the whole row anyway.
  const tiles: Tiles = { qBlock: 1, kBlock: Nk, blocks: () => ({ list: Int32Array.of(0), nPartial: 1 }) };
  const ev = evaluators(plan);
  const evAll = { ...ev, mask: ev.mask ?? (() => true) };
  const nr = rows[1] - rows[0];
  const outP = new Float32Array(heads.length * nr * Nk);
  const row: RowScores = { raw: new Float64Array(Nk), s: new Float64Array(Nk), keep: new Uint8Array(Nk) };
  heads.forEach((h, hi) => {
    const kvBase = (b * Hkv + Math.floor(h / G)) * Nk;
    for (let i = rows[0]; i < rows[1]; i++) {
      rowScores(plan, tiles, evAll, q, k, b, h, i, kvBase, row);
      const { m, l } = rowStats(row, Nk, sigmoid, sigBias);
      if (l === 0) continue;
      const o = (hi * nr + (i - rows[0])) * Nk;
      for (let j = 0; j < Nk; j++) {
        if (!row.keep[j] || row.s[j] === -Infinity) continue;
        outP[o + j] = sigmoid ? sigm(row.s[j]! + sigBias) : Math.exp(row.s[j]! - m) / l;
      }
    }
  });
  return outP;
}
