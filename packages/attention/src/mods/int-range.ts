/**
 * Integer ranges of a mod program for given B, H, Nq, Nk. Mods keep integers as i32 on the GPU
 * (WGSL) but evaluate them exactly in JavaScript on the CPU, so an integer expression that can
 * leave int32 (`q * k` at N = 65536) or an integer `%` whose divisor can be 0 (NaN in JavaScript,
 * a number in WGSL) would make the devices disagree silently. attention() refuses such a mod on
 * both devices, naming the expression and its range.
 */
import { ModError } from './parse.js';
import type { Expr, Program } from './ir.js';
import type { MaskMod, MaskNode, ScoreMod } from './mods.js';

type Range = [number, number];

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

export interface RangeDims {
  B: number;
  H: number;
  Nq: number;
  Nk: number;
}

/** A short JavaScript-like rendering of an expression for messages. */
function show(e: Expr, p: Program): string {
  const s = (x: Expr): string => show(x, p);
  switch (e.kind) {
    case 'num': return String(e.value);
    case 'bool': return String(e.value);
    case 'var': return e.name;
    case 'qoff': return '(Nk - Nq)';
    case 'local': return p.locals[e.id]?.name ?? `local${e.id}`;
    case 'scalar': return p.captures[e.cap]?.name ?? 'capture';
    case 'elem': return `${p.captures[e.cap]?.name ?? 'capture'}${e.indices.map((i) => `[${s(i)}]`).join('')}`;
    case 'unary': return `${e.op}${s(e.arg)}`;
    case 'cast': return s(e.arg);
    case 'binary': return `(${s(e.left)} ${e.op} ${s(e.right)})`;
    case 'cond': return `(${s(e.test)} ? ${s(e.then)} : ${s(e.else)})`;
    case 'call': return `Math.${e.fn}(${e.args.map(s).join(', ')})`;
  }
}

/** Throw a ModError when an integer operation of `p` can leave int32 or divide by zero. */
export function checkIntRanges(p: Program, label: string, d: RangeDims): void {
  const at = `B = ${d.B}, H = ${d.H}, Nq = ${d.Nq}, Nk = ${d.Nk}`;
  const check = (e: Expr, r: Range): Range => {
    if (r[0] < I32_MIN || r[1] > I32_MAX) {
      throw new ModError(`${label}: the integer expression ${show(e, p)} can reach [${r[0]}, ${r[1]}] at ${at}, beyond int32 (the WebGPU kernels compute mod integers in 32 bits); compute it in floats (e.g. q * 1.0 * k) or keep it smaller`);
    }
    return r;
  };
  /**
   * `q - t[q]` (packed documents' position inside the document, varlen.ts): the exact range over
   * the table instead of the interval bound, which would count q - t[q'] for q' != q.
   */
  const positionMinusTable = (e: Expr): Range | null => {
    if (e.kind !== 'binary' || e.op !== '-' || e.left.kind !== 'var' || e.right.kind !== 'elem' || e.right.indices.length !== 1) return null;
    const v = e.left.name;
    const idx = e.right.indices[0]!;
    const c = p.captures[e.right.cap]!;
    if (idx.kind !== 'var' || idx.name !== v || c.kind !== 'tensor' || c.ty !== 'int') return null;
    const n = v === 'q' ? d.Nq : v === 'k' ? d.Nk : -1;
    if (n !== c.data.length) return null;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      lo = Math.min(lo, i - c.data[i]!);
      hi = Math.max(hi, i - c.data[i]!);
    }
    return [lo, hi];
  };
  const locals: (Range | null)[] = [];
  const range = (e: Expr): Range | null => {
    switch (e.kind) {
      case 'num':
        return e.ty === 'int' ? [e.value, e.value] : null;
      case 'var':
        switch (e.name) {
          case 'b': return [0, d.B - 1];
          case 'h': return [0, d.H - 1];
          case 'q': return [0, d.Nq - 1];
          case 'k': return [0, d.Nk - 1];
          default: return null;
        }
      case 'qoff':
        return [d.Nk - d.Nq, d.Nk - d.Nq];
      case 'local':
        return locals[e.id] ?? null;
      case 'scalar': {
        const c = p.captures[e.cap]!;
        return c.kind === 'scalar' && c.ty === 'int' ? [c.value, c.value] : null;
      }
      case 'elem': {
        e.indices.forEach(range);
        const c = p.captures[e.cap]!;
        if (c.kind !== 'tensor' || c.ty !== 'int') return null;
        let lo = Infinity;
        let hi = -Infinity;
        for (let i = 0; i < c.data.length; i++) {
          lo = Math.min(lo, c.data[i]!);
          hi = Math.max(hi, c.data[i]!);
        }
        return [lo, hi];
      }
      case 'unary': {
        const a = range(e.arg);
        return e.ty === 'int' && a ? check(e, [-a[1], -a[0]]) : null;
      }
      case 'cast':
        range(e.arg);
        return null;
      case 'binary': {
        const l = range(e.left);
        const r = range(e.right);
        if (e.ty !== 'int' || !l || !r) return null;
        const exact = positionMinusTable(e);
        if (exact) return exact;
        switch (e.op) {
          case '+': return check(e, [l[0] + r[0], l[1] + r[1]]);
          case '-': return check(e, [l[0] - r[1], l[1] - r[0]]);
          case '*': {
            const ps = [l[0] * r[0], l[0] * r[1], l[1] * r[0], l[1] * r[1]];
            return check(e, [Math.min(...ps), Math.max(...ps)]);
          }
          case '%': {
            // A literal 0 is refused loudly by the WGSL compiler already; a runtime 0 is not.
            if (r[0] <= 0 && r[1] >= 0 && e.right.kind !== 'num') {
              throw new ModError(`${label}: the divisor of ${show(e, p)} can be 0 (it ranges over [${r[0]}, ${r[1]}] at ${at}); JavaScript gives NaN there and WGSL a number, so the devices would disagree: keep it nonzero (e.g. Math.max(${show(e.right, p)}, 1))`);
            }
            const m = Math.max(Math.abs(r[0]), Math.abs(r[1]), 1) - 1;
            return [l[0] < 0 ? Math.max(l[0], -m) : 0, l[1] > 0 ? Math.min(l[1], m) : 0];
          }
          default:
            return null;
        }
      }
      case 'cond': {
        range(e.test);
        const a = range(e.then);
        const b = range(e.else);
        return a && b ? [Math.min(a[0], b[0]), Math.max(a[1], b[1])] : null;
      }
      case 'call': {
        const rs = e.args.map(range);
        if (e.ty !== 'int') return null;
        if (e.fn === 'trunc') return [I32_MIN, I32_MAX]; // float to int: an index, clamped where it is read
        const a = rs[0];
        if (!a) return null;
        switch (e.fn) {
          case 'min':
          case 'max': {
            const b = rs[1];
            if (!b) return null;
            const f = e.fn === 'min' ? Math.min : Math.max;
            return [f(a[0], b[0]), f(a[1], b[1])];
          }
          case 'abs':
            return check(e, [a[0] >= 0 ? a[0] : a[1] <= 0 ? -a[1] : 0, Math.max(Math.abs(a[0]), Math.abs(a[1]))]);
          case 'sign':
            return [Math.sign(a[0]), Math.sign(a[1])];
          default:
            return a;
        }
      }
      default:
        return null;
    }
  };
  for (const l of p.locals) locals.push(range(l.value));
  range(p.body);
}

/** checkIntRanges over every leaf of a mask and a score mod, as one kernel will run them. */
export function checkModRanges(mask: MaskMod | null, score: ScoreMod | null, d: RangeDims): void {
  const walk = (n: MaskNode): void => {
    if (n.kind === 'leaf') checkIntRanges(n.prog, `mask '${mask!.name}'`, d);
    else n.parts.forEach(walk);
  };
  if (mask) walk(mask.node);
  if (score) checkIntRanges(score.prog, `scoreMod '${score.name}'`, d);
}
