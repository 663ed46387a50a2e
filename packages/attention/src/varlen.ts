/**
 * Packed variable-length sequences for softmax / sigmoid attention (flash-attn's varlen,
 * FlexAttention's document masking): documents laid end to end along N never attend across
 * each other, and masks and score mods see positions inside their document, so a packed call
 * equals running each document alone.
 *
 * Expressed as a rewrite of the mod programs rather than a kernel of its own: every kernel (CPU JS,
 * CPU SIMD, WebGPU rowwise and tiled, forward and backward, captured-tensor gradients) already
 * evaluates mask and score programs, so a document mask is the program `doc[q] == doc[k] && inner`
 * with the inner program's q, k read as `q - start(q)`, `k - start(k)` (and its bottom-right offset
 * per document), the per-token tables riding along as int32 captures.
 */
import { TensorError } from '@attnlab/tensor';
import { MaskMod, ScoreMod, toMaskMod, type Intervals, type MaskLike, type MaskNode } from './mods/mods.js';
import type { Capture, Expr, Program, VarName } from './mods/ir.js';
import { ModError } from './mods/parse.js';
import type { BlockMask } from './blockmask.js';

/** Where the documents of a packed batch start and end on the query and key axes. */
export interface DocumentLayout {
  /** Cumulative query lengths [0, n1, n1 + n2, ..., Nq]. */
  readonly cuQ: Int32Array;
  /** Cumulative key lengths (the same array when queries and keys are packed alike). */
  readonly cuK: Int32Array;
  readonly nDocs: number;
  /** Per token: its document, and its document's first index on its own axis. */
  readonly qDoc: Int32Array;
  readonly kDoc: Int32Array;
  readonly qStart: Int32Array;
  readonly kStart: Int32Array;
  /** Per query token: key length minus query length of its document (bottom-right alignment). */
  readonly qAlign: Int32Array;
}

export interface DocumentOptions {
  /** Cumulative key lengths when keys are packed differently from queries (Nq != Nk); default cuSeqlens. */
  cuSeqlensK?: ArrayLike<number> | null;
}

const list = (c: ArrayLike<number>): string => {
  const a = Array.from(c);
  return `[${(a.length > 12 ? [...a.slice(0, 6), '...', ...a.slice(-3)] : a).join(', ')}]`;
};

/** Validate cumulative sequence lengths for an axis of length N (errors name the argument and the fault). */
export function checkCuSeqlens(op: string, name: string, cu: ArrayLike<number> | null | undefined, N: number | null): Int32Array {
  if (cu === null || cu === undefined || typeof cu !== 'object' || typeof (cu as ArrayLike<number>).length !== 'number') {
    throw new TensorError(op, `${name} must be an array of cumulative sequence lengths [0, n1, n1 + n2, ..., N], got ${String(cu)}`);
  }
  const n = cu.length;
  if (n < 2) throw new TensorError(op, `${name} must hold at least [0, N] (one document), got ${list(cu)}`);
  for (let i = 0; i < n; i++) {
    const x = cu[i];
    if (typeof x !== 'number' || !Number.isInteger(x)) throw new TensorError(op, `${name}[${i}] is ${String(x)}: cumulative lengths must be integers, got ${list(cu)}`);
  }
  if (cu[0] !== 0) throw new TensorError(op, `${name} must start at 0, got ${cu[0]} (${list(cu)})`);
  for (let i = 1; i < n; i++) {
    if (cu[i]! <= cu[i - 1]!) throw new TensorError(op, `${name} must be strictly increasing (every document non-empty): ${name}[${i}] = ${cu[i]} after ${cu[i - 1]} (${list(cu)})`);
  }
  if (N !== null && cu[n - 1] !== N) throw new TensorError(op, `${name} must end at the packed length N = ${N}, got ${cu[n - 1]} (total of the document lengths; ${list(cu)})`);
  return Int32Array.from(cu);
}

/**
 * Cumulative sequence lengths from per-token document ids (FlexAttention's `document_id`): each run
 * of equal ids is one document. An id that comes back after another document is an error (the
 * documents of a packed batch are contiguous).
 */
export function cuSeqlensFromDocumentIds(ids: ArrayLike<number>): number[] {
  const op = 'cuSeqlensFromDocumentIds';
  if (!ids || typeof ids.length !== 'number' || ids.length === 0) throw new TensorError(op, 'documentIds must be a non-empty array of per-token document ids');
  const cu = [0];
  const seen = new Set<number>();
  for (let i = 0; i < ids.length; i++) {
    const d = ids[i]!;
    if (typeof d !== 'number' || !Number.isInteger(d)) throw new TensorError(op, `documentIds[${i}] is ${String(d)}: ids must be integers`);
    if (i > 0 && d !== ids[i - 1]) {
      if (seen.has(d)) throw new TensorError(op, `documentIds[${i}] = ${d} returns to a document that ended earlier: packed documents must be contiguous`);
      cu.push(i);
    }
    seen.add(d);
  }
  cu.push(ids.length);
  return cu;
}

/** The per-token tables of a layout. */
export function documentLayout(op: string, cuSeqlens: ArrayLike<number>, Nq: number, Nk: number, cuSeqlensK?: ArrayLike<number> | null): DocumentLayout {
  if ((cuSeqlensK === undefined || cuSeqlensK === null) && Nq !== Nk) {
    throw new TensorError(op, `cuSeqlens describes both axes only when Nq = Nk (got Nq = ${Nq}, Nk = ${Nk}); pass cuSeqlensK for the keys`);
  }
  const cuQ = checkCuSeqlens(op, 'cuSeqlens', cuSeqlens, Nq);
  const cuK = cuSeqlensK === undefined || cuSeqlensK === null ? cuQ : checkCuSeqlens(op, 'cuSeqlensK', cuSeqlensK, Nk);
  if (cuK.length !== cuQ.length) throw new TensorError(op, `cuSeqlens has ${cuQ.length - 1} documents but cuSeqlensK has ${cuK.length - 1}`);
  const nDocs = cuQ.length - 1;
  const qDoc = new Int32Array(Nq);
  const qStart = new Int32Array(Nq);
  const qAlign = new Int32Array(Nq);
  const kDoc = new Int32Array(Nk);
  const kStart = new Int32Array(Nk);
  for (let d = 0; d < nDocs; d++) {
    const align = cuK[d + 1]! - cuK[d]! - (cuQ[d + 1]! - cuQ[d]!);
    qDoc.fill(d, cuQ[d], cuQ[d + 1]);
    qStart.fill(cuQ[d]!, cuQ[d], cuQ[d + 1]);
    qAlign.fill(align, cuQ[d], cuQ[d + 1]);
    kDoc.fill(d, cuK[d], cuK[d + 1]);
    kStart.fill(cuK[d]!, cuK[d], cuK[d + 1]);
  }
  return { cuQ, cuK, nDocs, qDoc, kDoc, qStart, kStart, qAlign };
}

function sameLayout(a: DocumentLayout, b: DocumentLayout): boolean {
  const eq = (x: Int32Array, y: Int32Array): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(a.cuQ, b.cuQ) && eq(a.cuK, b.cuK);
}

// ---------------------------------------------------------------------------------------------
// Program rewriting.

const Q: Expr = { kind: 'var', name: 'q', ty: 'int' };
const K: Expr = { kind: 'var', name: 'k', ty: 'int' };
const intTable = (name: string, data: Int32Array): Capture => ({ name, kind: 'tensor', ty: 'int', shape: [data.length], strides: [1], data });
const read = (cap: number, at: Expr, ty: 'int' | 'float' = 'int'): Expr => ({ kind: 'elem', cap, indices: [at], ty });

/**
 * The program with q, k read inside their documents: q -> q - qStart[q], k -> k - kStart[k],
 * qoff (bottom-right alignment) -> qAlign[q]. New tables are appended after the program's own
 * captures, so capture indices (and captured-tensor gradients) keep their meaning.
 */
function localize(p: Program, L: DocumentLayout): Program {
  const captures = [...p.captures];
  const slots = new Map<string, number>();
  const slot = (name: string, data: Int32Array): number => {
    let i = slots.get(name);
    if (i === undefined) {
      i = captures.length;
      captures.push(intTable(name, data));
      slots.set(name, i);
    }
    return i;
  };
  const rw = (e: Expr): Expr => {
    switch (e.kind) {
      case 'var':
        if (e.name === 'q') return { kind: 'binary', op: '-', left: e, right: read(slot('document start (q)', L.qStart), Q), ty: 'int' };
        if (e.name === 'k') return { kind: 'binary', op: '-', left: e, right: read(slot('document start (k)', L.kStart), K), ty: 'int' };
        return e;
      case 'qoff':
        return read(slot('document alignment', L.qAlign), Q);
      case 'elem':
        return { ...e, indices: e.indices.map(rw) };
      case 'unary':
      case 'cast':
        return { ...e, arg: rw(e.arg) };
      case 'binary':
        return { ...e, left: rw(e.left), right: rw(e.right) };
      case 'cond':
        return { ...e, test: rw(e.test), then: rw(e.then), else: rw(e.else) };
      case 'call':
        return { ...e, args: e.args.map(rw) };
      default:
        return e;
    }
  };
  const locals = p.locals.map((l) => ({ name: l.name, value: rw(l.value) }));
  const body = rw(p.body);
  const uses = new Set<VarName | 'qoff'>([...p.uses].filter((u) => u !== 'qoff'));
  if (p.uses.has('qoff')) uses.add('q');
  return { ...p, locals, body, captures, uses };
}

function localizeNode(n: MaskNode, L: DocumentLayout): MaskNode {
  if (n.kind === 'leaf') return { kind: 'leaf', prog: localize(n.prog, L) };
  return { kind: n.kind, parts: n.parts.map((p) => localizeNode(p, L)) };
}

/** The leaf `qDoc[q] == kDoc[k]`. */
function sameDocumentLeaf(L: DocumentLayout): MaskNode {
  const prog: Program = {
    role: 'mask', locals: [], captures: [intTable('document of q', L.qDoc), intTable('document of k', L.kDoc)],
    body: { kind: 'binary', op: '==', left: read(0, Q), right: read(1, K), ty: 'bool' },
    uses: new Set<VarName | 'qoff'>(['q', 'k']), source: '(b, h, q, k) => documentOf(q) === documentOf(k)',
  };
  return { kind: 'leaf', prog };
}

interface DocumentMaskInfo {
  layout: DocumentLayout;
  /** The mask inside each document (positions local to it), or null: the whole document. */
  inner: MaskMod | null;
}

const documentMasks = new WeakMap<MaskMod, DocumentMaskInfo>();

/** The layout and inner mask of a mask built by documentMask(), or undefined. */
export function documentMaskInfo(m: MaskMod): DocumentMaskInfo | undefined {
  return documentMasks.get(m);
}

function buildDocumentMask(inner: MaskMod | null, L: DocumentLayout): MaskMod {
  const same = sameDocumentLeaf(L);
  const node: MaskNode = inner ? { kind: 'and', parts: [same, localizeNode(inner.node, L)] } : same;
  const m = new MaskMod(node, inner ? `document(${inner.name})` : 'document');
  documentMasks.set(m, { layout: L, inner });
  return m;
}

/** Built document masks of named inner masks (rebuilt by every causal() call), by description. */
const namedDocCache = new Map<string, MaskMod>();
const NAMED_DOC_CACHE_MAX = 32;
const byObject = new WeakMap<object, Map<string, MaskMod>>();
const WHOLE = {};

/** documentMask() for a validated layout, reusing an earlier build for the same mask and layout. */
export function documentMaskFor(inner: MaskMod | null, L: DocumentLayout): MaskMod {
  const lay = `${L.cuQ.join(',')}|${L.cuK.join(',')}`;
  if (inner && inner.isNamed) {
    const key = `${inner.name}|${lay}`;
    let m = namedDocCache.get(key);
    if (!m) {
      m = buildDocumentMask(inner, L);
      if (namedDocCache.size >= NAMED_DOC_CACHE_MAX) namedDocCache.delete(namedDocCache.keys().next().value as string);
      namedDocCache.set(key, m);
    }
    return m;
  }
  const owner = inner ?? WHOLE;
  let per = byObject.get(owner);
  if (!per) byObject.set(owner, (per = new Map()));
  let m = per.get(lay);
  if (!m) {
    m = buildDocumentMask(inner, L);
    if (per.size >= NAMED_DOC_CACHE_MAX) per.delete(per.keys().next().value as string);
    per.set(lay, m);
  }
  return m;
}

/**
 * FlexAttention's document masking (`generate_doc_mask_mod`): keep (q, k) when both lie in the same
 * document and `mask` keeps them at their positions inside it (q - start, k - start; named masks
 * stay bottom-right aligned per document when its query and key lengths differ). With no mask,
 * every pair inside a document is kept. The result is a MaskMod like any other: pass it to
 * attention(), createBlockMask() or attentionWeights(); attention() also reads score mods at
 * document positions when it gets one.
 */
export function documentMask(mask: MaskLike | null, cuSeqlens: ArrayLike<number>, opts: DocumentOptions = {}): MaskMod {
  const op = 'documentMask';
  const cuQ = checkCuSeqlens(op, 'cuSeqlens', cuSeqlens, null);
  const cuK = opts.cuSeqlensK ? checkCuSeqlens(op, 'cuSeqlensK', opts.cuSeqlensK, null) : cuQ;
  return documentMaskFor(mask === null ? null : toMaskMod(mask), documentLayout(op, cuQ, cuQ.at(-1)!, cuK.at(-1)!, cuK));
}

/** The score mod read at document positions (and, for sigmoid, with a per-document bias added). */
export function documentScoreMod(mod: ScoreMod | null, L: DocumentLayout, rowBias: Float32Array | null = null): ScoreMod | null {
  if (!mod && !rowBias) return null;
  let prog: Program;
  if (mod) {
    prog = localize(mod.prog, L);
  } else {
    prog = { role: 'score', locals: [], captures: [], body: { kind: 'var', name: 's', ty: 'float' }, uses: new Set<VarName | 'qoff'>(['s']), source: '(s) => s' };
  }
  if (rowBias) {
    const cap = prog.captures.length;
    const captures: Capture[] = [...prog.captures, { name: 'sigmoid bias of the document', kind: 'tensor', ty: 'float', shape: [rowBias.length], strides: [1], data: rowBias }];
    const uses = new Set(prog.uses);
    uses.add('q');
    prog = { ...prog, captures, uses, body: { kind: 'binary', op: '+', left: prog.body, right: read(cap, Q, 'float'), ty: 'float' } };
  }
  return new ScoreMod(prog, mod ? `document(${mod.name})` : 'document sigmoid bias');
}

/**
 * Key intervals kept for query row q of a document mask (absolute key indices): the inner mask's
 * intervals inside q's document, shifted to where the document starts.
 */
export function documentRowIntervals(info: DocumentMaskInfo, b: number, h: number, q: number): Intervals {
  const L = info.layout;
  const d = L.qDoc[q]!;
  const ql = q - L.cuQ[d]!;
  const qLen = L.cuQ[d + 1]! - L.cuQ[d]!;
  const k0 = L.cuK[d]!;
  const kLen = L.cuK[d + 1]! - k0;
  const inner = info.inner;
  if (!inner) return [[k0, k0 + kLen - 1]];
  if (inner.isNamed) return inner.rowIntervals(h, ql, qLen, kLen).map(([lo, hi]) => [lo + k0, hi + k0]);
  const f = inner.evaluator(qLen, kLen);
  const out: Intervals = [];
  let start = -1;
  for (let k = 0; k <= kLen; k++) {
    const keep = k < kLen && f(b, h, ql, k);
    if (keep && start < 0) start = k;
    else if (!keep && start >= 0) {
      out.push([start + k0, k - 1 + k0]);
      start = -1;
    }
  }
  return out;
}

export interface VarlenPlanInput {
  cuSeqlens?: ArrayLike<number> | null;
  cuSeqlensK?: ArrayLike<number> | null;
  normalize: 'softmax' | 'sigmoid';
  /** The caller's sigmoidBias (undefined: -log of each document's key length). */
  sigmoidBias?: number;
}

export interface VarlenPlan {
  layout: DocumentLayout;
  /** The document mask (a document BlockMask passed in is kept as it is). */
  mask: MaskMod | BlockMask;
  scoreMod: ScoreMod | null;
  /** Uniform sigmoid bias left for the kernel (0 when a per-document one rides in the score mod). */
  sigmoidBias: number | undefined;
  /** Per query row sigmoid bias added through the score mod, or null. */
  rowBias: Float32Array | null;
}

const isBlockMask = (m: unknown): m is BlockMask => (m as BlockMask | null)?.kind === 'blockMask';

/**
 * attention()'s packed-documents inputs: the document layout (from cuSeqlens, or carried by a
 * document mask / document BlockMask), the mask and score mod rewritten to document positions.
 * Null when the call has no documents.
 */
export function varlenPlan(op: string, B: number, Nq: number, Nk: number, mask: MaskMod | BlockMask | null, scoreMod: ScoreMod | null, o: VarlenPlanInput): VarlenPlan | null {
  const given = o.cuSeqlens !== undefined && o.cuSeqlens !== null;
  if (!given && o.cuSeqlensK !== undefined && o.cuSeqlensK !== null) throw new TensorError(op, 'cuSeqlensK needs cuSeqlens (the query side)');
  const info = mask ? documentMaskInfo(isBlockMask(mask) ? mask.mask : mask) : undefined;
  let layout = info?.layout ?? null;
  if (given) {
    if (isBlockMask(mask) && !info) {
      throw new ModError(`${op}: a BlockMask built without documents cannot take cuSeqlens (its tiles would cross documents); build it with createDocumentBlockMask(cuSeqlens, { mask }) or pass the MaskMod`);
    }
    const L = documentLayout(op, o.cuSeqlens!, Nq, Nk, o.cuSeqlensK);
    if (layout && !sameLayout(layout, L)) throw new ModError(`${op}: the mask was built for documents ${list(layout.cuQ)} but cuSeqlens is ${list(L.cuQ)}`);
    layout = L;
  }
  if (!layout) return null;
  if (B !== 1) throw new TensorError(op, `cuSeqlens packs sequences along N and needs B = 1, got B = ${B}`);
  if (layout.qDoc.length !== Nq || layout.kDoc.length !== Nk) throw new ModError(`${op}: the document mask covers Nq = ${layout.qDoc.length}, Nk = ${layout.kDoc.length} but q/k have Nq = ${Nq}, Nk = ${Nk}`);
  const docMask = info ? mask! : documentMaskFor(mask as MaskMod | null, layout);
  let rowBias: Float32Array | null = null;
  let sigmoidBias = o.sigmoidBias;
  if (o.normalize === 'sigmoid' && sigmoidBias === undefined) {
    // Alone, each document would get -log(its key length): carry that per row.
    rowBias = new Float32Array(Nq);
    for (let i = 0; i < Nq; i++) {
      const d = layout.qDoc[i]!;
      rowBias[i] = -Math.log(layout.cuK[d + 1]! - layout.cuK[d]!);
    }
    sigmoidBias = 0;
  }
  return { layout, mask: docMask, scoreMod: documentScoreMod(scoreMod, layout, rowBias), sigmoidBias, rowBias };
}
