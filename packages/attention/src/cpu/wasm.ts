/**
 * WebAssembly SIMD kernels for the CPU forward pass (scores tile, online softmax, P.V), driven
 * per tile from JS so masks and score mods stay in the compiled JS evaluators.
 */
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';
import type { FlashPlan } from '../flash-plan.js';
import type { CpuFlashOut } from './flash.js';

interface Exports {
  memory: WebAssembly.Memory;
  qk(q: number, k: number, s: number, rows: number, keys: number, D: number, scale: number): void;
  pv(p: number, v: number, acc: number, rows: number, keys: number, D: number): void;
  /** pv reading p transposed: p(i, j) = p[j*pst + i] (same sums in the same order as pv on the transposed copy). */
  pvt(p: number, v: number, acc: number, rows: number, keys: number, D: number, pst: number): void;
  softmax(s: number, rows: number, keys: number, m: number, l: number, acc: number, D: number): void;
}

let inst: Exports | null | undefined;

function decodeBase64(s: string): Uint8Array {
  const g = globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array }; atob?: (s: string) => string };
  if (g.Buffer) return new Uint8Array(g.Buffer.from(s, 'base64'));
  const bin = g.atob!(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The kernels, or null where WebAssembly SIMD is unavailable. */
export function wasmKernels(): Exports | null {
  if (inst !== undefined) return inst;
  try {
    const bytes = decodeBase64(KERNELS_WASM_BASE64);
    const module = new WebAssembly.Module(bytes as BufferSource);
    inst = new WebAssembly.Instance(module, {}).exports as unknown as Exports;
  } catch {
    inst = null;
  }
  return inst;
}

/** Whether the fast path applies: SIMD available and D a multiple of 16. */
export function wasmApplies(D: number): boolean {
  return D % 16 === 0 && wasmKernels() !== null;
}

const sigm = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

export function flashForwardWasm(plan: FlashPlan, q: Float32Array, k: Float32Array, v: Float32Array, sigmoid: boolean, sigBias: number): CpuFlashOut {
  const w = wasmKernels()!;
  const { B, Hq, Hkv, Nq, Nk, D } = plan.dims;
  const scale = plan.params.scale;
  const G = Hq / Hkv;
  const bm = plan.blockMask;
  const qBlock = bm ? bm.qBlock : 64;
  const kBlock = bm ? bm.kBlock : 64;
  const nKB = Math.ceil(Nk / kBlock);
  const allBlocks = Int32Array.from({ length: nKB }, (_, i) => i);
  const maskF = plan.mask ? plan.mask.evaluator(Nq, Nk) : null;
  const modF = plan.scoreMod ? plan.scoreMod.evaluators(Nq, Nk)[0] : null;
  // Plain causal self-attention (training): a partial tile masks k > q by a loop bound, not a call per score.
  const causalOnly = !!plan.mask && plan.mask.isNamed && plan.mask.name === 'causal' && Nq === Nk && !modF;
  // Layout (bytes): Q head | K head | V head | S tile | m | l | acc.
  const qB = Nq * D * 4;
  const kB = Nk * D * 4;
  const offQ = 0;
  const offK = offQ + qB;
  const offV = offK + kB;
  const offS = offV + kB;
  const offM = offS + qBlock * kBlock * 4;
  const offL = offM + qBlock * 4;
  const offA = offL + qBlock * 4;
  const need = offA + qBlock * D * 4;
  const have = w.memory.buffer.byteLength;
  if (need > have) w.memory.grow(Math.ceil((need - have) / 65536));
  const mem = new Float32Array(w.memory.buffer);
  const out = new Float32Array(B * Hq * Nq * D);
  const lse = new Float32Array(B * Hq * Nq);
  for (let b = 0; b < B; b++) {
    for (let hk = 0; hk < Hkv; hk++) {
      const kvo = (b * Hkv + hk) * Nk * D;
      mem.set(k.subarray(kvo, kvo + Nk * D), offK / 4);
      mem.set(v.subarray(kvo, kvo + Nk * D), offV / 4);
      for (let h = hk * G; h < (hk + 1) * G; h++) {
        const qo = (b * Hq + h) * Nq * D;
        mem.set(q.subarray(qo, qo + Nq * D), offQ / 4);
        for (let qb = 0; qb * qBlock < Nq; qb++) {
          const q0 = qb * qBlock;
          const rows = Math.min(qBlock, Nq - q0);
          mem.fill(-Infinity, offM / 4, offM / 4 + rows);
          mem.fill(0, offL / 4, offL / 4 + rows);
          mem.fill(0, offA / 4, offA / 4 + rows * D);
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
            w.qk(offQ + q0 * D * 4, offK + k0 * D * 4, offS, rows, keys, D, scale);
            const s0 = offS / 4;
            if (causalOnly && t < nPartial) {
              for (let i = 0; i < rows; i++) {
                const from = Math.max(0, q0 + i - k0 + 1);
                if (from < keys) mem.fill(-Infinity, s0 + i * keys + from, s0 + (i + 1) * keys);
              }
            } else if ((t < nPartial && maskF) || modF) {
              for (let i = 0; i < rows; i++) {
                for (let j = 0; j < keys; j++) {
                  const at = s0 + i * keys + j;
                  if (t < nPartial && !maskF!(b, h, q0 + i, k0 + j)) mem[at] = -Infinity;
                  else if (modF) mem[at] = modF(mem[at]!, b, h, q0 + i, k0 + j);
                }
              }
            }
            if (sigmoid) {
              for (let i = 0; i < rows; i++) {
                let sum = 0;
                for (let j = 0; j < keys; j++) {
                  const at = s0 + i * keys + j;
                  const p = mem[at] === -Infinity ? 0 : sigm(mem[at]! + sigBias);
                  mem[at] = p;
                  sum += p;
                }
                mem[offL / 4 + i]! += sum;
              }
            } else {
              w.softmax(offS, rows, keys, offM, offL, offA, D);
            }
            w.pv(offS, offV + k0 * D * 4, offA, rows, keys, D);
          }
          for (let i = 0; i < rows; i++) {
            const r = (b * Hq + h) * Nq + q0 + i;
            const l = mem[offL / 4 + i]!;
            if (l > 0) {
              const inv = sigmoid ? 1 : 1 / l;
              const a = offA / 4 + i * D;
              for (let d = 0; d < D; d++) out[r * D + d] = mem[a + d]! * inv;
              lse[r] = sigmoid ? Math.log(l) : mem[offM / 4 + i]! + Math.log(l);
            } else {
              lse[r] = -Infinity;
            }
          }
        }
      }
    }
  }
  return { out, lse };
}
