/**
 * Planning shared by the CPU and WebGPU flash paths: resolve the mask into a BlockMask whose
 * tiles match the kernel, choose tile sizes, and pack block tables + mod captures into one
 * u32 `aux` array.
 */
import { BlockMask, createBlockMask } from './blockmask.js';
import { wgslMods, type MaskMod, type ScoreMod } from './mods/mods.js';
import { ModError } from './mods/parse.js';
import { checkModRanges } from './mods/int-range.js';
import type { FlashKernelConfig, FlashParams } from './wgsl/flash.js';

export interface FlashDims {
  B: number;
  Hq: number;
  Hkv: number;
  Nq: number;
  Nk: number;
  D: number;
  /** Value head dim (default D). */
  Dv?: number;
}

export interface FlashPlanOptions {
  mask: MaskMod | BlockMask | null;
  scoreMod: ScoreMod | null;
  normalize: 'softmax' | 'sigmoid';
  scale: number;
  sigmoidBias: number;
  /**
   * How the kernels read q, k, v: 'f32' (default), 'f16' (packed halves unpacked to f32, any adapter)
   * or 'f16-native' (the same words read as WGSL f16; adapters with `shader-f16`). f32 arithmetic always.
   */
  storage?: 'f32' | 'f16' | 'f16-native';
}

export interface FlashPlan {
  dims: FlashDims;
  blockMask: BlockMask | null;
  mask: MaskMod | null;
  scoreMod: ScoreMod | null;
  fwd: FlashKernelConfig;
  /** dK/dV kernel: BR key rows per workgroup, BC query rows per step. */
  dkv: FlashKernelConfig;
  params: FlashParams;
  aux: Uint32Array;
  /** Where each captured tensor's gradient sits in the dQ kernel's CGb buffer (capture index -> word), and its size. */
  capGrad: { offsets: Map<number, number>; words: number };
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

const blockCache = new WeakMap<MaskMod, Map<string, BlockMask>>();

/** The BlockMask of `mask` for these dims and tile sizes, cached per mask object. */
/** Named masks are rebuilt by every causal()/slidingWindow() call: cache them by description. */
const namedCache = new Map<string, BlockMask>();
const NAMED_CACHE_MAX = 64;

export function blockMaskFor(mask: MaskMod, B: number, H: number, Nq: number, Nk: number, qBlock: number, kBlock: number): BlockMask {
  if (mask.isNamed) {
    const key = `${mask.name}|${mask.uses.has('h') ? H : 1},${Nq},${Nk},${qBlock},${kBlock}`;
    let bm = namedCache.get(key);
    if (!bm || bm.B !== B || bm.H !== H) {
      bm = createBlockMask(mask, { B, H, Nq, Nk, blockSize: [qBlock, kBlock] });
      if (namedCache.size >= NAMED_CACHE_MAX) namedCache.delete(namedCache.keys().next().value as string);
      namedCache.set(key, bm);
    }
    return bm;
  }
  let m = blockCache.get(mask);
  if (!m) {
    m = new Map();
    blockCache.set(mask, m);
  }
  const key = `${B},${H},${Nq},${Nk},${qBlock},${kBlock}`;
  let bm = m.get(key);
  if (!bm) {
    bm = createBlockMask(mask, { B, H, Nq, Nk, blockSize: [qBlock, kBlock] });
    m.set(key, bm);
  }
  return bm;
}

/** Default tile edge for a query length: small for decode, 64 otherwise. */
export function defaultQBlock(Nq: number): number {
  let b = 16;
  while (b < 64 && b < Nq) b *= 2;
  return b;
}

export function planFlash(dims: FlashDims, opts: FlashPlanOptions): FlashPlan {
  const { B, Hq, Nq, Nk, D } = dims;
  const DV = dims.Dv ?? D;
  let bm: BlockMask | null = null;
  if (opts.mask instanceof BlockMask) {
    bm = opts.mask;
    if (bm.Nq !== Nq || bm.Nk !== Nk) throw new ModError(`attention: BlockMask was built for Nq=${bm.Nq}, Nk=${bm.Nk} but q/k have Nq=${Nq}, Nk=${Nk}`);
    if (bm.B !== B && bm.Bm !== 1) throw new ModError(`attention: BlockMask was built for B=${bm.B} but q has B=${B}`);
    if (bm.H !== Hq && bm.Hm !== 1) throw new ModError(`attention: BlockMask was built for H=${bm.H} but q has ${Hq} heads`);
  } else if (opts.mask) {
    const qb = defaultQBlock(Nq);
    bm = blockMaskFor(opts.mask, B, Hq, Nq, Nk, qb, 64);
  }
  const QBLOCK = bm ? bm.qBlock : defaultQBlock(Nq);
  const KBLOCK = bm ? bm.kBlock : 64;
  // Two staged tiles of BC rows x D and x DV floats (+ three floats per row and a few words) must
  // fit the default 16 KiB of workgroup storage; BC is a power of two so it divides common block sizes.
  let bcMax = 1;
  while (bcMax < 32 && (bcMax * 2) * (4 * D + 4 * DV + 12) + 64 <= 16384) bcMax *= 2;
  const mask = bm ? bm.mask : null;
  // Integers in mods are i32 in WGSL and exact in JS: refuse ones that could differ, on both devices.
  checkModRanges(mask, opts.scoreMod, { B, H: Hq, Nq, Nk });
  // aux layout: 8 tables, then mod data.
  const tables = bm ? [bm.kvNum, bm.kvIdx, bm.fullKvNum, bm.fullKvIdx, bm.qNum, bm.qIdx, bm.fullQNum, bm.fullQIdx] : [];
  const offs: number[] = [];
  let at = 0;
  for (const t of tables) {
    offs.push(at);
    at += t.length;
  }
  const mdBase = at;
  const mods = wgslMods(mask, opts.scoreMod, { buf: 'aux', base: 'P.md_base' });
  const aux = new Uint32Array(at + mods.data.length);
  tables.forEach((t, i) => aux.set(new Uint32Array(t.buffer, t.byteOffset, t.length), offs[i]!));
  aux.set(mods.data, mdBase);
  const base = {
    D, DV, QBLOCK, KBLOCK, hasTable: bm !== null, modsCode: mods.code, hasMask: mods.hasMask, hasScore: mods.hasScore,
    sigmoid: opts.normalize === 'sigmoid', f16: opts.storage === 'f16' || opts.storage === 'f16-native', f16Native: opts.storage === 'f16-native',
  };
  const fwd: FlashKernelConfig = { ...base, BR: QBLOCK <= 64 ? QBLOCK : gcd(QBLOCK, 64), BC: gcd(KBLOCK, bcMax), capGradCode: mods.capGradCode };
  const dkv: FlashKernelConfig = { ...base, BR: KBLOCK <= 64 ? KBLOCK : gcd(KBLOCK, 64), BC: gcd(QBLOCK, bcMax) };
  const params: FlashParams = {
    B, Hq, Hkv: dims.Hkv, Nq, Nk, scale: opts.scale, sigBias: opts.sigmoidBias,
    nQB: bm ? bm.nQB : Math.ceil(Nq / QBLOCK), nKB: bm ? bm.nKB : Math.ceil(Nk / KBLOCK), Bm: bm ? bm.Bm : 1, Hm: bm ? bm.Hm : 1,
    kvNumOff: offs[0] ?? 0, kvIdxOff: offs[1] ?? 0, fullNumOff: offs[2] ?? 0, fullIdxOff: offs[3] ?? 0,
    qNumOff: offs[4] ?? 0, qIdxOff: offs[5] ?? 0, fullQNumOff: offs[6] ?? 0, fullQIdxOff: offs[7] ?? 0, mdBase,
  };
  return { dims, blockMask: bm, mask, scoreMod: opts.scoreMod, fwd, dkv, params, aux, capGrad: { offsets: mods.capGradOffsets, words: mods.capGradWords } };
}
