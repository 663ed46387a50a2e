import { ModError } from './mods/parse.js';
import { perHead, toMaskMod, type Intervals, type MaskLike, type MaskMod } from './mods/mods.js';
import { documentMask, documentMaskInfo, documentRowIntervals } from './varlen.js';
import { checkOptionNames } from './options.js';

export interface BlockMaskOptions {
  B: number;
  H: number;
  Nq: number;
  Nk: number;
  /** Tile size, or [query block, key block]. Default 64. */
  blockSize?: number | [number, number];
}

/** Block lists of one (b, h) row of tiles: key-block indices, ascending. */
export interface BlockRow {
  partial: Int32Array;
  full: Int32Array;
}

/**
 * Which (query block, key block) tiles a mask touches, FlexAttention style. A tile is full when
 * every in-range (q, k) in it is kept (the kernel skips mask evaluation), partial when some
 * are kept (the kernel evaluates the mask per element), and absent when none are (skipped).
 * Masks that read neither b nor h are stored once and shared (Bm = Hm = 1).
 */
export class BlockMask {
  readonly kind = 'blockMask' as const;
  readonly B: number;
  readonly H: number;
  readonly Nq: number;
  readonly Nk: number;
  readonly qBlock: number;
  readonly kBlock: number;
  readonly nQB: number;
  readonly nKB: number;
  /** Stored batch / head extents (1 when the mask does not depend on b / h). */
  readonly Bm: number;
  readonly Hm: number;
  /** The mask evaluated inside partial tiles. */
  readonly mask: MaskMod;
  /** [Bm*Hm*nQB] counts and [Bm*Hm*nQB*nKB] key-block indices (row-padded). */
  readonly kvNum: Int32Array;
  readonly kvIdx: Int32Array;
  readonly fullKvNum: Int32Array;
  readonly fullKvIdx: Int32Array;
  /** Transposed tables for the dK/dV pass: [Bm*Hm*nKB] counts, [Bm*Hm*nKB*nQB] query-block indices. */
  readonly qNum: Int32Array;
  readonly qIdx: Int32Array;
  readonly fullQNum: Int32Array;
  readonly fullQIdx: Int32Array;

  /** @internal */
  constructor(init: {
    B: number; H: number; Nq: number; Nk: number; qBlock: number; kBlock: number; Bm: number; Hm: number; mask: MaskMod;
    state: Uint8Array; // [Bm*Hm*nQB*nKB]: 0 empty, 1 partial, 2 full
  }) {
    this.B = init.B;
    this.H = init.H;
    this.Nq = init.Nq;
    this.Nk = init.Nk;
    this.qBlock = init.qBlock;
    this.kBlock = init.kBlock;
    this.nQB = Math.ceil(init.Nq / init.qBlock);
    this.nKB = Math.ceil(init.Nk / init.kBlock);
    this.Bm = init.Bm;
    this.Hm = init.Hm;
    this.mask = init.mask;
    const rows = init.Bm * init.Hm;
    const { nQB, nKB } = this;
    this.kvNum = new Int32Array(rows * nQB);
    this.fullKvNum = new Int32Array(rows * nQB);
    this.kvIdx = new Int32Array(rows * nQB * nKB);
    this.fullKvIdx = new Int32Array(rows * nQB * nKB);
    this.qNum = new Int32Array(rows * nKB);
    this.fullQNum = new Int32Array(rows * nKB);
    this.qIdx = new Int32Array(rows * nKB * nQB);
    this.fullQIdx = new Int32Array(rows * nKB * nQB);
    const st = init.state;
    for (let r = 0; r < rows; r++) {
      for (let qb = 0; qb < nQB; qb++) {
        const row = r * nQB + qb;
        for (let kb = 0; kb < nKB; kb++) {
          const s = st[row * nKB + kb]!;
          if (s === 1) this.kvIdx[row * nKB + this.kvNum[row]!++] = kb;
          else if (s === 2) this.fullKvIdx[row * nKB + this.fullKvNum[row]!++] = kb;
          const col = r * nKB + kb;
          if (s === 1) this.qIdx[col * nQB + this.qNum[col]!++] = qb;
          else if (s === 2) this.fullQIdx[col * nQB + this.fullQNum[col]!++] = qb;
        }
      }
    }
  }

  /** Index of (b, h) in the stored tables (broadcast when the mask ignores b or h). */
  rowOf(b: number, h: number): number {
    return (this.Bm === 1 ? 0 : b) * this.Hm + (this.Hm === 1 ? 0 : h);
  }

  /** Partial and full key blocks for query block qb of (b, h). */
  kvBlocks(b: number, h: number, qb: number): BlockRow {
    const row = this.rowOf(b, h) * this.nQB + qb;
    const at = row * this.nKB;
    return {
      partial: this.kvIdx.slice(at, at + this.kvNum[row]!),
      full: this.fullKvIdx.slice(at, at + this.fullKvNum[row]!),
    };
  }

  /** Active tiles (full + partial) over all tiles, counted over the requested B x H. */
  density(): number {
    let active = 0;
    for (let b = 0; b < this.B; b++) {
      for (let h = 0; h < this.H; h++) {
        const r = this.rowOf(b, h) * this.nQB;
        for (let qb = 0; qb < this.nQB; qb++) active += this.kvNum[r + qb]! + this.fullKvNum[r + qb]!;
      }
    }
    return active / (this.B * this.H * this.nQB * this.nKB);
  }

  /** Number of active tiles for (b, h). */
  activeTiles(b = 0, h = 0): number {
    let n = 0;
    const r = this.rowOf(b, h) * this.nQB;
    for (let qb = 0; qb < this.nQB; qb++) n += this.kvNum[r + qb]! + this.fullKvNum[r + qb]!;
    return n;
  }

  /** Dense 0/1 view [Nq, Nk] of what the kernel computes for (b, h), for plots and debugging. */
  toDense(b = 0, h = 0): Uint8Array {
    const out = new Uint8Array(this.Nq * this.Nk);
    const f = this.mask.evaluator(this.Nq, this.Nk);
    for (let qb = 0; qb < this.nQB; qb++) {
      const { partial, full } = this.kvBlocks(b, h, qb);
      const q0 = qb * this.qBlock;
      const q1 = Math.min(q0 + this.qBlock, this.Nq);
      for (const kb of full) {
        const k1 = Math.min((kb + 1) * this.kBlock, this.Nk);
        for (let q = q0; q < q1; q++) out.fill(1, q * this.Nk + kb * this.kBlock, q * this.Nk + k1);
      }
      for (const kb of partial) {
        const k1 = Math.min((kb + 1) * this.kBlock, this.Nk);
        for (let q = q0; q < q1; q++) for (let k = kb * this.kBlock; k < k1; k++) if (f(b, h, q, k)) out[q * this.Nk + k] = 1;
      }
    }
    return out;
  }

  /** The packed documents of a document block mask (createDocumentBlockMask / documentMask), else null. */
  get documents(): { cuSeqlens: number[]; cuSeqlensK: number[] } | null {
    const info = documentMaskInfo(this.mask);
    return info ? { cuSeqlens: Array.from(info.layout.cuQ), cuSeqlensK: Array.from(info.layout.cuK) } : null;
  }

  toString(): string {
    return `BlockMask(${this.mask.name}, B=${this.B}, H=${this.H}, Nq=${this.Nq}, Nk=${this.Nk}, block=${this.qBlock}x${this.kBlock}, density=${this.density().toFixed(3)})`;
  }
}

function checkDim(name: string, v: number, min = 1): void {
  if (!Number.isInteger(v) || v < min) throw new ModError(`createBlockMask: ${name} must be an integer >= ${min}, got ${v}`);
}

/**
 * Precompute the tiles a mask touches. `mask` may be one mask or one per head (length H).
 * Named masks (causal, slidingWindow, sinks and their and/or) are classified from key intervals
 * per row; any other mask is evaluated on every (q, k) once per distinct (b, h) it reads.
 */
export function createBlockMask(mask: MaskLike | MaskLike[], opts: BlockMaskOptions): BlockMask {
  const { B, H, Nq, Nk } = opts;
  checkDim('B', B);
  checkDim('H', H);
  checkDim('Nq', Nq);
  checkDim('Nk', Nk);
  const [qBlock, kBlock] = Array.isArray(opts.blockSize) ? opts.blockSize : [opts.blockSize ?? 64, opts.blockSize ?? 64];
  checkDim('query block size', qBlock);
  checkDim('key block size', kBlock);
  let m: MaskMod;
  if (Array.isArray(mask)) {
    if (mask.length !== H) throw new ModError(`createBlockMask: got ${mask.length} per-head masks for H = ${H}`);
    m = perHead(mask);
  } else {
    m = toMaskMod(mask);
  }
  const Bm = m.uses.has('b') ? B : 1;
  const Hm = m.uses.has('h') ? H : 1;
  const nQB = Math.ceil(Nq / qBlock);
  const nKB = Math.ceil(Nk / kBlock);
  const state = new Uint8Array(Bm * Hm * nQB * nKB);
  const fullCnt = new Int32Array(nKB + 1);
  const anyCnt = new Int32Array(nKB + 1);
  // Named masks and document masks give each row's kept keys as intervals; others are evaluated.
  const doc = documentMaskInfo(m);
  if (doc && (doc.layout.qDoc.length !== Nq || doc.layout.kDoc.length !== Nk)) {
    throw new ModError(`createBlockMask: the document mask covers Nq = ${doc.layout.qDoc.length}, Nk = ${doc.layout.kDoc.length}, got Nq = ${Nq}, Nk = ${Nk}`);
  }
  const rowIv: ((b: number, h: number, q: number) => Intervals) | null = m.isNamed
    ? (_b, h, q) => m.rowIntervals(h, q, Nq, Nk)
    : doc ? (b, h, q) => documentRowIntervals(doc, b, h, q) : null;
  const f = rowIv ? null : m.evaluator(Nq, Nk);
  const keep = new Uint8Array(f ? Nk : 0);
  for (let b = 0; b < Bm; b++) {
    for (let h = 0; h < Hm; h++) {
      const r = b * Hm + h;
      for (let qb = 0; qb < nQB; qb++) {
        fullCnt.fill(0);
        anyCnt.fill(0);
        const q0 = qb * qBlock;
        const q1 = Math.min(q0 + qBlock, Nq);
        for (let q = q0; q < q1; q++) {
          if (f) {
            for (let k = 0; k < Nk; k++) keep[k] = f(b, h, q, k) ? 1 : 0;
            for (let kb = 0; kb < nKB; kb++) {
              const k1 = Math.min((kb + 1) * kBlock, Nk);
              let c = 0;
              for (let k = kb * kBlock; k < k1; k++) c += keep[k]!;
              if (c > 0) anyCnt[kb]!++;
              if (c === k1 - kb * kBlock) fullCnt[kb]!++;
            }
          } else {
            // Difference arrays over key blocks: touched blocks and fully covered blocks.
            for (const [lo, hi] of rowIv!(b, h, q)) {
              const b0 = Math.floor(lo / kBlock);
              const b1 = Math.floor(hi / kBlock);
              anyCnt[b0]!++;
              anyCnt[b1 + 1]!--;
              const f0 = lo === b0 * kBlock ? b0 : b0 + 1;
              const f1 = hi === Math.min((b1 + 1) * kBlock, Nk) - 1 ? b1 : b1 - 1;
              if (f0 <= f1) {
                fullCnt[f0]!++;
                fullCnt[f1 + 1]!--;
              }
            }
          }
        }
        if (!f) {
          for (let kb = 1; kb <= nKB; kb++) {
            anyCnt[kb]! += anyCnt[kb - 1]!;
            fullCnt[kb]! += fullCnt[kb - 1]!;
          }
        }
        const rows = q1 - q0;
        const base = (r * nQB + qb) * nKB;
        for (let kb = 0; kb < nKB; kb++) state[base + kb] = fullCnt[kb] === rows ? 2 : anyCnt[kb]! > 0 ? 1 : 0;
      }
    }
  }
  return new BlockMask({ B, H, Nq, Nk, qBlock, kBlock, Bm, Hm, mask: m, state });
}

export interface DocumentBlockMaskOptions {
  /** Mask inside each document, at positions local to it (default: the whole document). */
  mask?: MaskLike | MaskLike[] | null;
  /** Heads (default 1: one table shared by all heads unless the mask reads h). */
  H?: number;
  /** Tile size, or [query block, key block]. Default 64. */
  blockSize?: number | [number, number];
  /** Cumulative key lengths when keys are packed differently from queries. */
  cuSeqlensK?: ArrayLike<number> | null;
}

/**
 * The block mask of packed documents (FlexAttention's document_masking example): tiles that lie
 * wholly across documents are absent (skipped), tiles inside one document follow `mask` at
 * document positions. B = 1; Nq and Nk are the totals of cuSeqlens (and cuSeqlensK).
 */
export function createDocumentBlockMask(cuSeqlens: ArrayLike<number>, opts: DocumentBlockMaskOptions = {}): BlockMask {
  checkOptionNames('createDocumentBlockMask', opts, ['mask', 'H', 'blockSize', 'cuSeqlensK']);
  const H = opts.H ?? 1;
  checkDim('H', H);
  let inner: MaskMod | null = null;
  if (Array.isArray(opts.mask)) {
    if (opts.mask.length !== H) throw new ModError(`createDocumentBlockMask: got ${opts.mask.length} per-head masks for H = ${H}`);
    inner = perHead(opts.mask);
  } else if (opts.mask) {
    inner = toMaskMod(opts.mask as MaskLike);
  }
  const m = documentMask(inner, cuSeqlens, { cuSeqlensK: opts.cuSeqlensK ?? null });
  const L = documentMaskInfo(m)!.layout;
  return createBlockMask(m, { B: 1, H, Nq: L.qDoc.length, Nk: L.kDoc.length, ...(opts.blockSize === undefined ? {} : { blockSize: opts.blockSize }) });
}
