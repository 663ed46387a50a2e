import { ModError } from './parse.js';
import { compileProgram, type CaptureTensor, type CaptureValue, type Program, type VarName } from './ir.js';
import { MODS_PRELUDE_WGSL, captureWords, derivativeProgram, elemIndexProgram, elemReads, packCaptures, programToJs, programToWgsl, type WgslDataRef } from './emit.js';

export type MaskFn = (b: number, h: number, q: number, k: number) => boolean;
export type ScoreFn = (s: number, b: number, h: number, q: number, k: number) => number;

export interface ModOptions {
  /** Values the function reads by name: numbers, booleans, int32/float32 arrays (indexed by b/h/q/k expressions). */
  captures?: Record<string, CaptureValue>;
  /**
   * 'start' (default, FlexAttention): q is the query row index 0..Nq-1.
   * 'end': q is the row's position on the key axis, q + (Nk - Nq), so masks written for
   * Nq = Nk keep their meaning for decode and chunked prefill (flash-attn's bottom-right alignment).
   */
  align?: 'start' | 'end';
  /** Label for messages and displays. */
  name?: string;
}

/** Closed key intervals [lo, hi] on the key axis (inclusive), sorted, disjoint, non-adjacent. */
export type Intervals = [number, number][];

type NamedSpec =
  | { type: 'causal' }
  | { type: 'window'; w: number; causal: boolean }
  | { type: 'sinks'; s: number; causal: boolean };

export type MaskNode =
  | { kind: 'leaf'; prog: Program; named?: NamedSpec }
  | { kind: 'and' | 'or'; parts: MaskNode[] }
  | { kind: 'perHead'; parts: MaskNode[] };

function nodeUses(n: MaskNode, into: Set<VarName | 'qoff'>): Set<VarName | 'qoff'> {
  if (n.kind === 'leaf') for (const u of n.prog.uses) into.add(u);
  else {
    if (n.kind === 'perHead') into.add('h');
    for (const p of n.parts) nodeUses(p, into);
  }
  return into;
}

function nodeNamed(n: MaskNode): boolean {
  return n.kind === 'leaf' ? n.named !== undefined : n.parts.every(nodeNamed);
}

function clip(lo: number, hi: number, nk: number): Intervals {
  const a = Math.max(lo, 0);
  const b = Math.min(hi, nk - 1);
  return a <= b ? [[a, b]] : [];
}

function intersect(x: Intervals, y: Intervals): Intervals {
  const out: Intervals = [];
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const lo = Math.max(x[i]![0], y[j]![0]);
    const hi = Math.min(x[i]![1], y[j]![1]);
    if (lo <= hi) out.push([lo, hi]);
    if (x[i]![1] < y[j]![1]) i++;
    else j++;
  }
  return out;
}

function union(x: Intervals, y: Intervals): Intervals {
  const all = [...x, ...y].sort((a, b) => a[0] - b[0]);
  const out: Intervals = [];
  for (const [lo, hi] of all) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function namedIntervals(n: MaskNode, h: number, qpos: number, nk: number): Intervals {
  if (n.kind === 'leaf') {
    const s = n.named!;
    switch (s.type) {
      case 'causal':
        return clip(0, qpos, nk);
      case 'window':
        return clip(qpos - s.w + 1, s.causal ? qpos : qpos + s.w - 1, nk);
      case 'sinks':
        return clip(0, s.causal ? Math.min(s.s - 1, qpos) : s.s - 1, nk);
    }
  }
  if (n.kind === 'perHead') return namedIntervals(n.parts[h]!, h, qpos, nk);
  let acc = namedIntervals(n.parts[0]!, h, qpos, nk);
  for (let i = 1; i < n.parts.length; i++) {
    const nx = namedIntervals(n.parts[i]!, h, qpos, nk);
    acc = n.kind === 'and' ? intersect(acc, nx) : union(acc, nx);
  }
  return acc;
}

type MaskEval = (b: number, h: number, q: number, k: number) => boolean;

function nodeEval(n: MaskNode, qoff: number): MaskEval {
  if (n.kind === 'leaf') return programToJs(n.prog, qoff) as MaskEval;
  const fs = n.parts.map((p) => nodeEval(p, qoff));
  if (n.kind === 'perHead') {
    return (b, h, q, k) => {
      const f = fs[h];
      if (!f) throw new ModError(`per-head mask list has ${fs.length} entries but head ${h} was asked for`);
      return f(b, h, q, k);
    };
  }
  if (fs.length === 2) {
    const [f, g] = fs as [MaskEval, MaskEval];
    return n.kind === 'and' ? (b, h, q, k) => f(b, h, q, k) && g(b, h, q, k) : (b, h, q, k) => f(b, h, q, k) || g(b, h, q, k);
  }
  return n.kind === 'and' ? (b, h, q, k) => fs.every((f) => f(b, h, q, k)) : (b, h, q, k) => fs.some((f) => f(b, h, q, k));
}

/** A compiled mask predicate: (b, h, q, k) => keep this score. */
export class MaskMod {
  readonly kind = 'maskMod' as const;
  /** @internal */
  readonly node: MaskNode;
  readonly name: string;
  /** Canonical variables the mask reads: a mask without 'b'/'h' is shared across batches/heads. */
  readonly uses: ReadonlySet<VarName | 'qoff'>;
  /** True when every leaf is a named mask (causal, window, sinks): block tables come from intervals. */
  readonly isNamed: boolean;
  private evalCache = new Map<number, MaskEval>();

  /** @internal */
  constructor(node: MaskNode, name: string) {
    this.node = node;
    this.name = name;
    this.uses = nodeUses(node, new Set());
    this.isNamed = nodeNamed(node);
  }

  /** CPU evaluator for given Nq and Nk (the alignment offset is Nk - Nq). */
  evaluator(nq: number, nk: number): MaskEval {
    const qoff = nk - nq;
    let f = this.evalCache.get(qoff);
    if (!f) {
      f = nodeEval(this.node, qoff);
      this.evalCache.set(qoff, f);
    }
    return f;
  }

  /** Kept key intervals for row q (named masks only). */
  rowIntervals(h: number, q: number, nq: number, nk: number): Intervals {
    if (!this.isNamed) throw new ModError(`mask '${this.name}' is not built from named masks; evaluate it instead`);
    return namedIntervals(this.node, h, q + nk - nq, nk);
  }

  toString(): string {
    return `MaskMod(${this.name})`;
  }
}

/** A compiled score modifier: (s, b, h, q, k) => new score, with its derivative d/ds for backward. */
export class ScoreMod {
  readonly kind = 'scoreMod' as const;
  /** @internal */
  readonly prog: Program;
  /** @internal */
  readonly grad: Program;
  readonly name: string;
  private cache = new Map<number, [ScoreFn, ScoreFn]>();

  /** @internal */
  constructor(prog: Program, name: string) {
    this.prog = prog;
    this.grad = derivativeProgram(prog);
    this.name = name;
  }

  /** Captured tensors, by capture index (attention() reads them at each call). */
  get tensorCaptures(): { cap: number; name: string; tensor: CaptureTensor }[] {
    const out: { cap: number; name: string; tensor: CaptureTensor }[] = [];
    this.prog.captures.forEach((c, cap) => {
      if (c.kind === 'tensor' && c.source) out.push({ cap, name: c.name, tensor: c.source });
    });
    return out;
  }

  /** The same mod with the given captured tensors' current values (capture index -> values). */
  withCaptureData(values: Map<number, ArrayLike<number>>): ScoreMod {
    const captures = this.prog.captures.map((c, i) => {
      const v = values.get(i);
      if (!v || c.kind !== 'tensor') return c;
      if (v.length !== c.data.length) throw new ModError(`captured tensor '${c.name}' now has ${v.length} values, compiled for ${c.data.length}`);
      return { ...c, data: Float32Array.from(v) };
    });
    return new ScoreMod({ ...this.prog, captures }, this.name);
  }

  /**
   * For each read of a captured tensor that requires grad: its capture, and evaluators of
   * d(score)/d(that element) and of the flat element index, for Nq, Nk.
   */
  captureGradEvaluators(nq: number, nk: number): { cap: number; partial: ScoreFn; index: ScoreFn }[] {
    const qoff = nk - nq;
    return this.captureReads().map(({ cap, partial, index }) => ({
      cap, partial: programToJs(partial, qoff) as ScoreFn, index: programToJs(index, qoff) as ScoreFn,
    }));
  }

  /** @internal Derivative and index programs per read of a captured tensor that requires grad. */
  captureReads(): { cap: number; partial: Program; index: Program }[] {
    return elemReads(this.prog)
      .filter((e) => {
        const c = this.prog.captures[e.cap]!;
        return c.kind === 'tensor' && c.source?.requiresGrad === true;
      })
      .map((e) => ({ cap: e.cap, partial: derivativeProgram(this.prog, e), index: elemIndexProgram(this.prog, e) }));
  }

  /** [value, d/ds] evaluators for given Nq, Nk. */
  evaluators(nq: number, nk: number): [ScoreFn, ScoreFn] {
    const qoff = nk - nq;
    let r = this.cache.get(qoff);
    if (!r) {
      r = [programToJs(this.prog, qoff) as ScoreFn, programToJs(this.grad, qoff) as ScoreFn];
      this.cache.set(qoff, r);
    }
    return r;
  }

  toString(): string {
    return `ScoreMod(${this.name})`;
  }
}

function describe(fn: unknown, opts: ModOptions): string {
  if (opts.name) return opts.name;
  const src = typeof fn === 'string' ? fn : Function.prototype.toString.call(fn);
  return src.length > 60 ? src.slice(0, 57) + '...' : src;
}

/** Compile a mask predicate `(b, h, q, k) => boolean` (see the subset in README). */
export function maskMod(fn: MaskFn | string, opts: ModOptions = {}): MaskMod {
  const prog = compileProgram(fn as (...a: never[]) => unknown, { role: 'mask', captures: opts.captures ?? {}, align: opts.align ?? 'start' });
  return new MaskMod({ kind: 'leaf', prog }, describe(fn, opts));
}

/** Compile a score modifier `(s, b, h, q, k) => number`. */
export function scoreMod(fn: ScoreFn | string, opts: ModOptions = {}): ScoreMod {
  const prog = compileProgram(fn as (...a: never[]) => unknown, { role: 'score', captures: opts.captures ?? {}, align: opts.align ?? 'start' });
  return new ScoreMod(prog, describe(fn, opts));
}

function named(src: string, captures: Record<string, number>, spec: NamedSpec, name: string): MaskMod {
  const prog = compileProgram(src, { role: 'mask', captures, align: 'end' });
  return new MaskMod({ kind: 'leaf', prog, named: spec }, name);
}

/** Causal mask, bottom-right aligned when Nq != Nk: key k is kept for row q when k <= q + Nk - Nq. */
export function causal(): MaskMod {
  return named('(b, h, q, k) => k <= q', {}, { type: 'causal' }, 'causal');
}

/** The w most recent keys up to and including the query position (causal); or |q - k| < w with causal: false. */
export function slidingWindow(w: number, opts: { causal?: boolean } = {}): MaskMod {
  if (!Number.isInteger(w) || w < 1) throw new ModError(`slidingWindow: window must be a positive integer, got ${w}`);
  const c = opts.causal ?? true;
  return c
    ? named('(b, h, q, k) => k <= q && q - k < w', { w }, { type: 'window', w, causal: true }, `slidingWindow(${w})`)
    : named('(b, h, q, k) => q - k < w && k - q < w', { w }, { type: 'window', w, causal: false }, `slidingWindow(${w}, non-causal)`);
}

/** The first s keys (attention sinks), never past the query position unless causal: false. */
export function sinks(s: number, opts: { causal?: boolean } = {}): MaskMod {
  if (!Number.isInteger(s) || s < 0) throw new ModError(`sinks: count must be a non-negative integer, got ${s}`);
  const c = opts.causal ?? true;
  return c
    ? named('(b, h, q, k) => k < s && k <= q', { s }, { type: 'sinks', s, causal: true }, `sinks(${s})`)
    : named('(b, h, q, k) => k < s', { s }, { type: 'sinks', s, causal: false }, `sinks(${s}, non-causal)`);
}

export type MaskLike = MaskMod | MaskFn;

export function toMaskMod(m: MaskLike): MaskMod {
  if (m instanceof MaskMod) return m;
  if (typeof m === 'function') return maskMod(m);
  throw new ModError(`expected a MaskMod or a (b, h, q, k) => boolean function, got ${typeof m}`);
}

export function toScoreMod(m: ScoreMod | ScoreFn): ScoreMod {
  if (m instanceof ScoreMod) return m;
  if (typeof m === 'function') return scoreMod(m);
  throw new ModError(`expected a ScoreMod or a (s, b, h, q, k) => number function, got ${typeof m}`);
}

/** Keep a score only where every mask keeps it. */
export function and(...masks: MaskLike[]): MaskMod {
  if (masks.length === 0) throw new ModError('and() needs at least one mask');
  const ms = masks.map(toMaskMod);
  if (ms.length === 1) return ms[0]!;
  return new MaskMod({ kind: 'and', parts: ms.map((m) => m.node) }, `and(${ms.map((m) => m.name).join(', ')})`);
}

/** Keep a score where any mask keeps it. */
export function or(...masks: MaskLike[]): MaskMod {
  if (masks.length === 0) throw new ModError('or() needs at least one mask');
  const ms = masks.map(toMaskMod);
  if (ms.length === 1) return ms[0]!;
  return new MaskMod({ kind: 'or', parts: ms.map((m) => m.node) }, `or(${ms.map((m) => m.name).join(', ')})`);
}

/** One mask per query head (head h uses masks[h]). */
export function perHead(masks: MaskLike[]): MaskMod {
  if (masks.length === 0) throw new ModError('perHead() needs at least one mask');
  const ms = masks.map(toMaskMod);
  return new MaskMod({ kind: 'perHead', parts: ms.map((m) => m.node) }, `perHead(${ms.map((m) => m.name).join(', ')})`);
}

// ---------------------------------------------------------------------------------------------
// WGSL packing for kernels: all mods of one dispatch share one u32 data region.

export interface WgslMods {
  /** WGSL functions: mask_mod(b,h,q,k,qoff) -> bool, score_mod(s,...) -> f32, score_mod_grad(s,...) -> f32. */
  code: string;
  /**
   * `cap_grads(ds, s, b, h, q, k, qoff)`: adds ds * d(score)/d(element) for every read of a captured
   * tensor that requires grad into `CGb` (array<atomic<u32>>, float bits) at `capGradOffsets`;
   * '' when there is none. Only the kernel that declares CGb includes it.
   */
  capGradCode: string;
  /** Word offset in CGb of each capture's gradient (by capture index), and the total words. */
  capGradOffsets: Map<number, number>;
  capGradWords: number;
  /** Capture words to upload at `ref.base`. */
  data: Uint32Array;
  hasMask: boolean;
  hasScore: boolean;
}

/** Emit the WGSL functions and packed capture data for a mask and/or score mod. */
export function wgslMods(mask: MaskMod | null, score: ScoreMod | null, ref: WgslDataRef): WgslMods {
  const leaves: Program[] = [];
  const collect = (n: MaskNode): void => {
    if (n.kind === 'leaf') leaves.push(n.prog);
    else n.parts.forEach(collect);
  };
  if (mask) collect(mask.node);
  const progs = [...leaves];
  if (score) progs.push(score.prog, score.grad);
  const words = progs.reduce((n, p) => n + captureWords(p), 0);
  const data = new Uint32Array(Math.max(words, 1));
  let at = 0;
  const code: string[] = [];
  let leafId = 0;
  const emitNode = (n: MaskNode): string => {
    if (n.kind === 'leaf') {
      const name = `mask_leaf_${leafId++}`;
      const offs = packCaptures(n.prog, data, at);
      code.push(programToWgsl(n.prog, name, ref, offs, at));
      at += captureWords(n.prog);
      return `${name}(b, h, q, k, qoff)`;
    }
    const parts = n.parts.map(emitNode);
    if (n.kind === 'perHead') {
      const name = `mask_heads_${leafId++}`;
      const cases = parts.map((p, i) => `    case ${i}i: { return ${p}; }`).join('\n');
      code.push(`fn ${name}(b: i32, h: i32, q: i32, k: i32, qoff: i32) -> bool {\n  switch h {\n${cases}\n    default: { return false; }\n  }\n}\n`);
      return `${name}(b, h, q, k, qoff)`;
    }
    return `(${parts.join(n.kind === 'and' ? ' && ' : ' || ')})`;
  };
  if (mask) {
    const expr = emitNode(mask.node);
    code.push(`fn mask_mod(b: i32, h: i32, q: i32, k: i32, qoff: i32) -> bool {\n  return ${expr};\n}\n`);
  }
  const capGrad: string[] = [];
  const capGradOffsets = new Map<number, number>();
  let capGradWords = 0;
  if (score) {
    let scoreAt = 0;
    let scoreOffs: number[] = [];
    for (const [p, name] of [[score.prog, 'score_mod'], [score.grad, 'score_mod_grad']] as const) {
      const offs = packCaptures(p, data, at);
      code.push(programToWgsl(p, name, ref, offs, at));
      if (p === score.prog) {
        scoreAt = at;
        scoreOffs = offs;
      }
      at += captureWords(p);
    }
    const reads = score.captureReads();
    for (const r of reads) {
      if (capGradOffsets.has(r.cap)) continue;
      const c = score.prog.captures[r.cap]!;
      capGradOffsets.set(r.cap, capGradWords);
      capGradWords += c.kind === 'tensor' ? c.data.length : 1;
    }
    if (reads.length) {
      // The partial and index programs share the score program's captures (same data words).
      reads.forEach((r, i) => {
        capGrad.push(programToWgsl(r.partial, `cap_part_${i}`, ref, scoreOffs, scoreAt));
        capGrad.push(programToWgsl(r.index, `cap_index_${i}`, ref, scoreOffs, scoreAt, true));
      });
      capGrad.push(`// Float add through compare-exchange (WGSL has no float atomics).
fn cap_atomic_add(i: u32, v: f32) {
  var old = atomicLoad(&CGb[i]);
  loop {
    let r = atomicCompareExchangeWeak(&CGb[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}
fn cap_grads(ds: f32, s: f32, b: i32, h: i32, q: i32, k: i32, qoff: i32) {
${reads.map((r, i) => `  cap_atomic_add(${capGradOffsets.get(r.cap)}u + u32(cap_index_${i}(s, b, h, q, k, qoff)), ds * cap_part_${i}(s, b, h, q, k, qoff));`).join('\n')}
}
`);
    }
  }
  return {
    code: code.length ? [MODS_PRELUDE_WGSL, ...code].join('\n') : '', data, hasMask: mask !== null, hasScore: score !== null,
    capGradCode: capGrad.join('\n'), capGradOffsets, capGradWords,
  };
}
