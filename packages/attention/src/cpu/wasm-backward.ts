/**
 * The CPU flash-attention backward on the WebAssembly SIMD kernels of wasm.ts (FlashAttention-2
 * schedule per tile): S = QKᵀ·scale and dP = dO·Vᵀ come from `qk`, the probabilities and
 * dS = P ⊙ (dP − δ) are formed per tile in JS (masks and score mods stay in their compiled JS
 * evaluators), and dQ += dS·K runs through `pv`, dK += dSᵀ·Q and dV += Pᵀ·dO through `pvt`, which
 * reads the P and dS tiles transposed in place (no transposed copies).
 * Same arithmetic as flashBackwardCpu, float32 accumulation instead of float64.
 */
import type { FlashPlan } from '../flash-plan.js';
import { wasmKernels } from './wasm.js';

const sigm = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

export function flashBackwardWasm(
  plan: FlashPlan, q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
  dOut: Float32Array, dLse: Float32Array | null, sigmoid: boolean, sigBias: number,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const w = wasmKernels()!;
  const { B, Hq, Hkv, Nq, Nk, D } = plan.dims;
  const scale = plan.params.scale;
  const G = Hq / Hkv;
  const bm = plan.blockMask;
  const qBlock = bm ? bm.qBlock : 64;
  const kBlock = bm ? bm.kBlock : 64;
  const allBlocks = Int32Array.from({ length: Math.ceil(Nk / kBlock) }, (_, i) => i);
  const maskF = plan.mask ? plan.mask.evaluator(Nq, Nk) : null;
  const [modF, dmodF] = plan.scoreMod ? plan.scoreMod.evaluators(Nq, Nk) : [null, null];
  // Layout (floats): Q | dO | dQ (Nq·D each) | K | V | dK | dV (Nk·D each) | S (then P) | dP | dS tiles.
  const qF = Nq * D;
  const kF = Nk * D;
  const tF = qBlock * kBlock;
  const oQ = 0;
  const oDO = oQ + qF;
  const oDQ = oDO + qF;
  const oK = oDQ + qF;
  const oV = oK + kF;
  const oDK = oV + kF;
  const oDV = oDK + kF;
  const oS = oDV + kF;
  const oDP = oS + tF;
  const oDS = oDP + tF;
  // Scratch for the softmax kernel (P = exp(S - lse) on plain tiles): m, l per row, acc rows.
  const oM = oDS + tF;
  const oL = oM + qBlock;
  const oAcc = oL + qBlock;
  const need = (oAcc + qBlock * D) * 4;
  const have = w.memory.buffer.byteLength;
  if (need > have) w.memory.grow(Math.ceil((need - have) / 65536));
  const mem = new Float32Array(w.memory.buffer);
  const dq = new Float32Array(B * Hq * Nq * D);
  const dk = new Float32Array(B * Hkv * Nk * D);
  const dv = new Float32Array(B * Hkv * Nk * D);
  const delta = new Float64Array(qBlock);
  // Per tile row, the kept keys [kept, keptEnd) relative to the tile.
  const kept = new Int32Array(qBlock);
  const keptEnd = new Int32Array(qBlock);
  const named = plan.mask?.isNamed === true;
  // dO·v (and dP - δ) in float32 overflows for |dO|, |v| near the float32 maximum where the float64
  // gradients are finite: every gradient is linear in (dO, dLse), so run on dO·2^-S (and δ·2^-S) and
  // scale dq, dk, dv back by 2^S at the end (exact powers of two). S = 0 in the normal range, which
  // leaves those results bit-identical.
  const S = overflowShift(dOut, v, D);
  const down = 2 ** -S;
  const dOs = S > 0 ? dOut.map((x) => x * down) : dOut;
  for (let b = 0; b < B; b++) {
    for (let hk = 0; hk < Hkv; hk++) {
      const kvo = (b * Hkv + hk) * kF;
      mem.set(k.subarray(kvo, kvo + kF), oK);
      mem.set(v.subarray(kvo, kvo + kF), oV);
      mem.fill(0, oDK, oDV + kF);
      for (let h = hk * G; h < (hk + 1) * G; h++) {
        const qo = (b * Hq + h) * qF;
        mem.set(q.subarray(qo, qo + qF), oQ);
        mem.set(dOs.subarray(qo, qo + qF), oDO);
        mem.fill(0, oDQ, oDQ + qF);
        for (let qb = 0; qb * qBlock < Nq; qb++) {
          const q0 = qb * qBlock;
          const rows = Math.min(qBlock, Nq - q0);
          for (let i = 0; i < rows; i++) {
            const r = (b * Hq + h) * Nq + q0 + i;
            const dl = dLse ? dLse[r]! : 0;
            if (sigmoid) {
              delta[i] = -dl * Math.exp(-lse[r]!);
            } else {
              let dd = -dl;
              const ro = r * D;
              for (let d = 0; d < D; d++) dd += dOut[ro + d]! * out[ro + d]!;
              delta[i] = dd;
            }
            if (S > 0) delta[i] = delta[i]! * down;
          }
          let list = allBlocks;
          let nPartial = 0;
          if (bm) {
            const row = bm.rowOf(b, h) * bm.nQB + qb;
            const at = row * bm.nKB;
            nPartial = bm.kvNum[row]!;
            const nf = bm.fullKvNum[row]!;
            list = new Int32Array(nPartial + nf);
            list.set(bm.kvIdx.subarray(at, at + nPartial), 0);
            list.set(bm.fullKvIdx.subarray(at, at + nf), nPartial);
          }
          for (let t = 0; t < list.length; t++) {
            const k0 = list[t]! * kBlock;
            const keys = Math.min(kBlock, Nk - k0);
            const partial = t < nPartial && maskF !== null;
            w.qk((oQ + q0 * D) * 4, (oK + k0 * D) * 4, oS * 4, rows, keys, D, scale);
            w.qk((oDO + q0 * D) * 4, (oV + k0 * D) * 4, oDP * 4, rows, keys, D, 1);
            const plain = !modF && !dmodF && !sigmoid;
            if (plain && !partial) {
              kept.fill(0, 0, rows);
              keptEnd.fill(keys, 0, rows);
              softmaxTileGradSimd(w, mem, oS, oDP, oDS, oM, oL, oAcc, rows, keys, D, lse, (b * Hq + h) * Nq + q0, delta, scale, kept, keptEnd, oQ + q0 * D, oK + k0 * D);
            } else if (plain && named && rowRanges(plan, h, q0, rows, k0, keys, Nq, Nk, kept, keptEnd)) {
              // A partial tile of a named mask (the causal diagonal): one kept key range per row.
              softmaxTileGradSimd(w, mem, oS, oDP, oDS, oM, oL, oAcc, rows, keys, D, lse, (b * Hq + h) * Nq + q0, delta, scale, kept, keptEnd, oQ + q0 * D, oK + k0 * D);
            } else for (let i = 0; i < rows; i++) {
              const L = lse[(b * Hq + h) * Nq + q0 + i]!;
              const di = delta[i]!;
              const so = i * keys;
              for (let j = 0; j < keys; j++) {
                let p = 0;
                let ds = 0;
                if (L !== -Infinity && !(partial && !maskF!(b, h, q0 + i, k0 + j))) {
                  const raw = mem[oS + so + j]!;
                  const s = modF ? modF(raw, b, h, q0 + i, k0 + j) : raw;
                  const dp = mem[oDP + so + j]!;
                  if (sigmoid) {
                    p = sigm(s + sigBias);
                    ds = (dp - di) * p * (1 - p);
                  } else {
                    p = Math.exp(s - L);
                    ds = p * (dp - di);
                  }
                  if (dmodF) ds *= dmodF(raw, b, h, q0 + i, k0 + j);
                  ds *= scale;
                }
                // P over S (its score was read above), dS beside it; both read transposed by pvt.
                mem[oS + so + j] = p;
                mem[oDS + so + j] = ds;
              }
            }
            w.pv(oDS * 4, (oK + k0 * D) * 4, (oDQ + q0 * D) * 4, rows, keys, D);
            w.pvt(oDS * 4, (oQ + q0 * D) * 4, (oDK + k0 * D) * 4, keys, rows, D, keys);
            w.pvt(oS * 4, (oDO + q0 * D) * 4, (oDV + k0 * D) * 4, keys, rows, D, keys);
          }
        }
        dq.set(mem.subarray(oDQ, oDQ + qF), qo);
      }
      dk.set(mem.subarray(oDK, oDK + kF), kvo);
      dv.set(mem.subarray(oDV, oDV + kF), kvo);
    }
  }
  if (S > 0) {
    const up = 2 ** S;
    for (const g of [dq, dk, dv]) for (let i = 0; i < g.length; i++) g[i] = g[i]! * up;
  }
  return { dq, dk, dv };
}

/** Bound (2^LOG2_HEADROOM) on D·max|dO|·max|v| that leaves float32 room for dP - δ and the sums over tiles. */
const LOG2_HEADROOM = 88;

/** The power of two S that brings D·max|dO|·max|v| under 2^LOG2_HEADROOM (0 when it already is). */
function overflowShift(dOut: Float32Array, v: Float32Array, D: number): number {
  let mo = 0;
  for (let i = 0; i < dOut.length; i++) { const a = Math.abs(dOut[i]!); if (a > mo) mo = a; }
  if (mo === 0) return 0;
  let mv = 0;
  for (let i = 0; i < v.length; i++) { const a = Math.abs(v[i]!); if (a > mv) mv = a; }
  const bound = D * mo * mv; // float64: no overflow for float32 inputs
  if (!(bound > 2 ** LOG2_HEADROOM) || bound === Infinity) return 0; // NaN / infinite v: nothing to rescue
  return Math.ceil(Math.log2(bound)) - LOG2_HEADROOM;
}

/**
 * Kept keys of each row of a tile under a named mask, as one range per row (false when a row keeps
 * more than one range: the caller evaluates the mask per element instead).
 */
function rowRanges(plan: FlashPlan, h: number, q0: number, rows: number, k0: number, keys: number, Nq: number, Nk: number, kept: Int32Array, keptEnd: Int32Array): boolean {
  for (let i = 0; i < rows; i++) {
    const iv = plan.mask!.rowIntervals(h, q0 + i, Nq, Nk);
    if (iv.length > 1) return false;
    const [a, z] = iv[0] ?? [1, 0];
    const lo = Math.max(a - k0, 0);
    const hi = Math.min(z - k0 + 1, keys);
    kept[i] = lo;
    keptEnd[i] = hi > lo ? hi : lo;
  }
  return true;
}

/**
 * The common tile (softmax, no score mod; keys outside [kept, keptEnd) of a row are masked):
 * P = exp(S - lse) on the forward's SIMD softmax kernel (left in the S tile), then
 * dS = P ⊙ (dP - δ) · scale. With m = lse the kernel rescales nothing (lse >= every score of its row: the
 * forward stored max + log(sum) with sum >= 1, from these same scores); a row where it did
 * (which would mean a different max) is redone with Math.exp from a recomputed score row.
 */
function softmaxTileGradSimd(
  w: NonNullable<ReturnType<typeof wasmKernels>>, mem: Float32Array, oS: number, oDP: number, oDS: number,
  oM: number, oL: number, oAcc: number, rows: number, keys: number, D: number,
  lse: Float32Array, lseAt: number, delta: Float64Array, scale: number, kept: Int32Array, keptEnd: Int32Array, qAt: number, kAt: number,
): void {
  for (let i = 0; i < rows; i++) {
    const L = lse[lseAt + i]!;
    const so = oS + i * keys;
    if (L === -Infinity) mem.fill(-Infinity, so, so + keys);
    else {
      if (kept[i]! > 0) mem.fill(-Infinity, so, so + kept[i]!);
      if (keptEnd[i]! < keys) mem.fill(-Infinity, so + keptEnd[i]!, so + keys);
    }
    mem[oM + i] = L;
  }
  w.softmax(oS * 4, rows, keys, oM * 4, oL * 4, oAcc * 4, D);
  for (let i = 0; i < rows; i++) {
    const L = lse[lseAt + i]!;
    const so = i * keys;
    if (L !== -Infinity && mem[oM + i] !== L) {
      w.qk((qAt + i * D) * 4, kAt * 4, (oS + so) * 4, 1, keys, D, scale);
      for (let j = 0; j < keys; j++) mem[oS + so + j] = j >= kept[i]! && j < keptEnd[i]! ? Math.exp(mem[oS + so + j]! - L) : 0;
    }
    const di = delta[i]!;
    for (let j = 0; j < keys; j++) {
      const p = mem[oS + so + j]!;
      const ds = p === 0 ? 0 : p * (mem[oDP + so + j]! - di) * scale;
      mem[oDS + so + j] = ds;
    }
  }
}
