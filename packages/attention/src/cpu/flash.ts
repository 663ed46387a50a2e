/**
 * CPU flash attention on Float32Arrays: the same tile schedule as the WGSL kernel (absent
 * tiles skipped, mask evaluated only on partial tiles), online softmax per row, float64
 * accumulation in JS numbers. Memory is O(tile), never Nq x Nk.
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
  const scale = plan.params.scale;
  const G = Hq / Hkv;
  const out = new Float32Array(B * Hq * Nq * D);
  const lse = new Float32Array(B * Hq * Nq);
  const tiles = tilesOf(plan);
  const { mask, mod } = evaluators(plan);
  const { qBlock, kBlock } = tiles;
  const acc = new Float64Array(qBlock * D);
  const m = new Float64Array(qBlock);
  const l = new Float64Array(qBlock);
  const srow = new Float64Array(kBlock);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kvBase = (b * Hkv + Math.floor(h / G)) * Nk;
      for (let qb = 0; qb * qBlock < Nq; qb++) {
        const q0 = qb * qBlock;
        const q1 = Math.min(q0 + qBlock, Nq);
        acc.fill(0);
        m.fill(-Infinity);
        l.fill(0);
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
              srow[j - k0] = s;
              if (s > tmax) tmax = s;
            }
            if (tmax === -Infinity) continue;
            const ao = ri * D;
            if (sigmoid) {
              for (let j = k0; j < k1; j++) {
                const s = srow[j - k0]!;
                if (s === -Infinity) continue;
                const p = sigm(s + sigBias);
                l[ri]! += p;
                const vo = (kvBase + j) * D;
                for (let d = 0; d < D; d++) acc[ao + d]! += p * v[vo + d]!;
              }
              continue;
            }
            const mOld = m[ri]!;
            if (tmax > mOld) {
              const corr = Math.exp(mOld - tmax);
              l[ri]! *= corr;
              for (let d = 0; d < D; d++) acc[ao + d]! *= corr;
              m[ri] = tmax;
            }
            const mi = m[ri]!;
            for (let j = k0; j < k1; j++) {
              const s = srow[j - k0]!;
              if (s === -Infinity) continue;
              const p = Math.exp(s - mi);
              l[ri]! += p;
              const vo = (kvBase + j) * D;
              for (let d = 0; d < D; d++) acc[ao + d]! += p * v[vo + d]!;
            }
          }
        }
        for (let i = q0; i < q1; i++) {
          const ri = i - q0;
          const r = (b * Hq + h) * Nq + i;
          const li = l[ri]!;
          if (li > 0) {
            const inv = sigmoid ? 1 : 1 / li;
            for (let d = 0; d < D; d++) out[r * D + d] = acc[ri * D + d]! * inv;
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

/** Gradients of <dOut, out> + <dLse, lse>, recomputing probabilities from lse (FlashAttention-2). */
export function flashBackwardCpu(
  plan: FlashPlan, q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
  dOut: Float32Array, dLse: Float32Array | null, sigmoid: boolean, sigBias: number,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { B, Hq, Hkv, Nq, Nk, D } = plan.dims;
  const scale = plan.params.scale;
  const G = Hq / Hkv;
  const tiles = tilesOf(plan);
  const { mask, mod, dmod } = evaluators(plan);
  const { qBlock, kBlock } = tiles;
  const dq = new Float32Array(B * Hq * Nq * D);
  const dk64 = new Float64Array(B * Hkv * Nk * D);
  const dv64 = new Float64Array(B * Hkv * Nk * D);
  const dqRow = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kvBase = (b * Hkv + Math.floor(h / G)) * Nk;
      for (let qb = 0; qb * qBlock < Nq; qb++) {
        const q0 = qb * qBlock;
        const q1 = Math.min(q0 + qBlock, Nq);
        const { list, nPartial } = tiles.blocks(b, h, qb);
        for (let i = q0; i < q1; i++) {
          const r = (b * Hq + h) * Nq + i;
          const L = lse[r]!;
          if (L === -Infinity) continue;
          const qo = r * D;
          let delta: number;
          const dl = dLse ? dLse[r]! : 0;
          if (sigmoid) {
            delta = -dl * Math.exp(-L);
          } else {
            delta = -dl;
            for (let d = 0; d < D; d++) delta += dOut[qo + d]! * out[qo + d]!;
          }
          dqRow.fill(0);
          for (let t = 0; t < list.length; t++) {
            const kb = list[t]!;
            const partial = t < nPartial;
            const k0 = kb * kBlock;
            const k1 = Math.min(k0 + kBlock, Nk);
            for (let j = k0; j < k1; j++) {
              if (partial && !mask!(b, h, i, j)) continue;
              const ko = (kvBase + j) * D;
              let raw = 0;
              let dp = 0;
              for (let d = 0; d < D; d++) {
                raw += q[qo + d]! * k[ko + d]!;
                dp += dOut[qo + d]! * v[ko + d]!;
              }
              raw *= scale;
              const s = mod ? mod(raw, b, h, i, j) : raw;
              let p: number;
              let ds: number;
              if (sigmoid) {
                p = sigm(s + sigBias);
                ds = (dp - delta) * p * (1 - p);
              } else {
                p = Math.exp(s - L);
                ds = p * (dp - delta);
              }
              if (dmod) ds *= dmod(raw, b, h, i, j);
              const c = ds * scale;
              for (let d = 0; d < D; d++) {
                dqRow[d]! += c * k[ko + d]!;
                dk64[ko + d]! += c * q[qo + d]!;
                dv64[ko + d]! += p * dOut[qo + d]!;
              }
            }
          }
          for (let d = 0; d < D; d++) dq[qo + d] = dqRow[d]!;
        }
      }
    }
  }
  return { dq, dk: Float32Array.from(dk64), dv: Float32Array.from(dv64) };
}

/** Probabilities [heads.length, rows, Nk] for batch b, recomputed from lse (softmax) or directly (sigmoid). */
export function probsCpu(
  plan: FlashPlan, q: Float32Array, k: Float32Array, lse: Float32Array, b: number, heads: number[], rows: [number, number], sigmoid: boolean, sigBias: number,
): Float32Array {
  const { Hq, Hkv, Nq, Nk, D } = plan.dims;
  const scale = plan.params.scale;
  const G = Hq / Hkv;
  const { mask, mod } = evaluators(plan);
  const nr = rows[1] - rows[0];
  const outP = new Float32Array(heads.length * nr * Nk);
  heads.forEach((h, hi) => {
    const kvBase = (b * Hkv + Math.floor(h / G)) * Nk;
    for (let i = rows[0]; i < rows[1]; i++) {
      const r = (b * Hq + h) * Nq + i;
      const L = lse[r]!;
      if (L === -Infinity) continue;
      const qo = r * D;
      for (let j = 0; j < Nk; j++) {
        if (mask && !mask(b, h, i, j)) continue;
        const ko = (kvBase + j) * D;
        let s = 0;
        for (let d = 0; d < D; d++) s += q[qo + d]! * k[ko + d]!;
        s *= scale;
        if (mod) s = mod(s, b, h, i, j);
        outP[(hi * nr + (i - rows[0])) * Nk + j] = sigmoid ? sigm(s + sigBias) : Math.exp(s - L);
      }
    }
  });
  return outP;
}
