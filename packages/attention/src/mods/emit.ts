import { ModError } from './parse.js';
import { toFloat, type Capture, type Expr, type Program } from './ir.js';

// ---------------------------------------------------------------------------------------------
// Symbolic derivative of a scoreMod with respect to s (for the backward pass).

const ZERO: Expr = { kind: 'num', value: 0, ty: 'float' };
const ONE: Expr = { kind: 'num', value: 1, ty: 'float' };
const isZero = (e: Expr): boolean => e.kind === 'num' && e.value === 0;
const isOne = (e: Expr): boolean => e.kind === 'num' && e.value === 1;
const bin = (op: '+' | '-' | '*' | '/', l: Expr, r: Expr): Expr => {
  const a = toFloat(l);
  const b = toFloat(r);
  if (op === '+') {
    if (isZero(a)) return b;
    if (isZero(b)) return a;
  }
  if (op === '-') {
    if (isZero(b)) return a;
    if (isZero(a)) return { kind: 'unary', op: '-', arg: b, ty: 'float' };
  }
  if (op === '*') {
    if (isZero(a) || isZero(b)) return ZERO;
    if (isOne(a)) return b;
    if (isOne(b)) return a;
  }
  if (op === '/' && isZero(a)) return ZERO;
  return { kind: 'binary', op, left: a, right: b, ty: 'float' };
};
const call = (fn: string, ...args: Expr[]): Expr => ({ kind: 'call', fn, args: args.map(toFloat), ty: 'float' });

/**
 * A program computing d(scoreMod)/ds, or with `target` (an `elem` node of the program) the
 * derivative with respect to that one read of a captured array: the original locals, then one
 * derivative local per local.
 */
export function derivativeProgram(p: Program, target?: Expr): Program {
  const n = p.locals.length;
  const dl: Expr[] = [];
  const d = (e: Expr): Expr => {
    if (e.ty !== 'float') return ZERO;
    switch (e.kind) {
      case 'var':
        return e.name === 's' && !target ? ONE : ZERO;
      case 'local':
        return isZero(dl[e.id]!) ? ZERO : { kind: 'local', id: n + e.id, ty: 'float' };
      case 'elem':
        return e === target ? ONE : ZERO;
      case 'num':
      case 'scalar':
        return ZERO;
      case 'cast':
        return ZERO; // int-valued expressions do not depend on s
      case 'unary':
        return bin('-', ZERO, d(e.arg));
      case 'binary': {
        const da = d(e.left);
        const db = d(e.right);
        switch (e.op) {
          case '+':
            return bin('+', da, db);
          case '-':
            return bin('-', da, db);
          case '*':
            return bin('+', bin('*', da, e.right), bin('*', e.left, db));
          case '/':
            return bin('/', bin('-', bin('*', da, e.right), bin('*', e.left, db)), bin('*', e.right, e.right));
          case '%':
            return bin('-', da, bin('*', call('trunc', bin('/', e.left, e.right)), db));
          default:
            return ZERO;
        }
      }
      case 'cond': {
        const a = d(e.then);
        const b = d(e.else);
        if (isZero(a) && isZero(b)) return ZERO;
        return { kind: 'cond', test: e.test, then: a, else: b, ty: 'float' };
      }
      case 'call': {
        const [x, y] = e.args as [Expr, Expr | undefined];
        const dx = d(x);
        switch (e.fn) {
          case 'min':
          case 'max': {
            const dy = d(y!);
            if (isZero(dx) && isZero(dy)) return ZERO;
            const test: Expr = { kind: 'binary', op: e.fn === 'min' ? '<=' : '>=', left: x, right: y!, ty: 'bool' };
            return { kind: 'cond', test, then: dx, else: dy, ty: 'float' };
          }
          case 'abs':
            return bin('*', call('sign', x), dx);
          case 'exp':
            return bin('*', e, dx);
          case 'log':
            return bin('/', dx, x);
          case 'sqrt':
            return bin('/', dx, bin('*', { kind: 'num', value: 2, ty: 'float' }, e));
          case 'tanh':
            return bin('*', bin('-', ONE, bin('*', e, e)), dx);
          case 'sin':
            return bin('*', call('cos', x), dx);
          case 'cos':
            return bin('*', bin('-', ZERO, call('sin', x)), dx);
          case 'tan':
            return bin('*', bin('+', ONE, bin('*', e, e)), dx);
          case 'pow': {
            const dy = d(y!);
            const t1 = bin('*', bin('*', y!, call('pow', x, bin('-', y!, ONE))), dx);
            const t2 = isZero(dy) ? ZERO : bin('*', bin('*', e, call('log', x)), dy);
            return bin('+', t1, t2);
          }
          default:
            return ZERO; // floor, ceil, sign, trunc: piecewise constant
        }
      }
      default:
        return ZERO;
    }
  };
  for (const l of p.locals) dl.push(d(l.value));
  const body = d(p.body);
  return {
    ...p,
    locals: [...p.locals, ...dl.map((value, i) => ({ name: `d_${p.locals[i]!.name}`, value }))],
    body,
  };
}

// ---------------------------------------------------------------------------------------------
// JavaScript (CPU evaluator).

function ixCheck(name: string, dim: number) {
  return (i: number): number => {
    if (!Number.isInteger(i) || i < 0 || i >= dim) throw new ModError(`index ${i} out of range for captured '${name}' (dim ${dim})`);
    return i;
  };
}

function jsExpr(e: Expr): string {
  switch (e.kind) {
    case 'num':
      return `(${e.value})`;
    case 'bool':
      return e.value ? 'true' : 'false';
    case 'var':
      return e.name;
    case 'local':
      return `l${e.id}`;
    case 'qoff':
      return 'qoff';
    case 'scalar':
      return e.ty === 'bool' ? `(c${e.cap} !== 0)` : `c${e.cap}`;
    case 'elem':
      return `t${e.cap}[${e.indices.map((x, i) => `x${e.cap}_${i}(${jsExpr(x)}) * s${e.cap}_${i}`).join(' + ')}]`;
    case 'unary':
      return `(${e.op}${jsExpr(e.arg)})`;
    case 'binary': {
      const op = e.op === '==' ? '===' : e.op === '!=' ? '!==' : e.op;
      return `(${jsExpr(e.left)} ${op} ${jsExpr(e.right)})`;
    }
    case 'cond':
      return `(${jsExpr(e.test)} ? ${jsExpr(e.then)} : ${jsExpr(e.else)})`;
    case 'call':
      return `Math.${e.fn}(${e.args.map(jsExpr).join(', ')})`;
    case 'cast':
      return jsExpr(e.arg);
  }
}

/** Compile a program to a JS function (s?, b, h, q, k) with qoff and captures bound. */
export function programToJs(p: Program, qoff: number): (...args: number[]) => number | boolean {
  const names: string[] = ['qoff'];
  const values: unknown[] = [qoff];
  p.captures.forEach((c: Capture, i) => {
    if (c.kind === 'scalar') {
      names.push(`c${i}`);
      values.push(c.value);
    } else {
      names.push(`t${i}`);
      values.push(c.data);
      c.shape.forEach((dim, j) => {
        names.push(`x${i}_${j}`, `s${i}_${j}`);
        values.push(ixCheck(c.name, dim), c.strides[j]);
      });
    }
  });
  const params = p.role === 'mask' ? 'b, h, q, k' : 's, b, h, q, k';
  const body = p.locals.map((l, i) => `const l${i} = ${jsExpr(l.value)};`).join('\n') + `\nreturn ${jsExpr(p.body)};`;
  const make = new Function(...names, `"use strict"; return (${params}) => {\n${body}\n};`) as (...a: unknown[]) => (...args: number[]) => number | boolean;
  return make(...values);
}

// ---------------------------------------------------------------------------------------------
// WGSL.

/** WGSL helpers every mod may call (see MODS_PRELUDE_WGSL). */
export const MODS_PRELUDE_WGSL = `// Infinities and NaN are made at run time: WGSL rejects them in constant expressions.
fn mods_bits(b: u32) -> f32 { var v = b; return bitcast<f32>(v); }
// sin with range reduction and a degree-13 Taylor series: the built-in may be off by ~2^-11.
fn mods_sin(x: f32) -> f32 {
  var r = x - 6.283185307179586 * round(x * 0.15915494309189535);
  if (r > 1.5707963267948966) { r = 3.141592653589793 - r; } else if (r < -1.5707963267948966) { r = -3.141592653589793 - r; }
  let r2 = r * r;
  return r * (1.0 + r2 * (-1.6666666666666666e-1 + r2 * (8.333333333333333e-3 + r2 * (-1.984126984126984e-4 + r2 * (2.7557319223985893e-6 + r2 * (-2.505210838544172e-8 + r2 * 1.6059043836821613e-10))))));
}
fn mods_cos(x: f32) -> f32 {
  var r = x - 6.283185307179586 * round(x * 0.15915494309189535);
  return mods_sin(1.5707963267948966 - abs(r));
}
`;

export function wgslF32(v: number): string {
  const f = Math.fround(v);
  if (Number.isNaN(f)) return 'mods_bits(0x7fc00000u)';
  if (f === Infinity) return 'mods_bits(0x7f800000u)';
  if (f === -Infinity) return 'mods_bits(0xff800000u)';
  let s = v.toString();
  if (!/[.eE]/.test(s)) s += '.0';
  return v < 0 ? `(${s}f)` : `${s}f`;
}

export function wgslI32(v: number): string {
  return v < 0 ? `(${v}i)` : `${v}i`;
}

/** Where a program's captures live in the shared u32 data buffer. */
export interface WgslDataRef {
  /** Name of the `array<u32>` storage buffer. */
  buf: string;
  /** WGSL u32 expression for the first word of the mod data region. */
  base: string;
}

function wgslExpr(e: Expr, offs: number[], p: Program, ref: WgslDataRef): string {
  const w = (x: Expr): string => wgslExpr(x, offs, p, ref);
  switch (e.kind) {
    case 'num':
      return e.ty === 'int' ? wgslI32(e.value) : wgslF32(e.value);
    case 'bool':
      return e.value ? 'true' : 'false';
    case 'var':
      return e.name;
    case 'local':
      return `l${e.id}`;
    case 'qoff':
      return 'qoff';
    case 'scalar': {
      const at = `${ref.buf}[${ref.base} + ${offs[e.cap]}u]`;
      return e.ty === 'bool' ? `(${at} != 0u)` : e.ty === 'int' ? `bitcast<i32>(${at})` : `bitcast<f32>(${at})`;
    }
    case 'elem': {
      const c = p.captures[e.cap]!;
      if (c.kind !== 'tensor') throw new ModError('internal: element of a scalar');
      const idx = elemIndexWgsl(e, c.shape, c.strides, w);
      const at = `${ref.buf}[${ref.base} + ${offs[e.cap]}u + ${idx}]`;
      if (e.ty === 'int') return `bitcast<i32>(${at})`;
      // Out of range: NaN (the CPU throws), never a silently clamped neighbour. Inside select() only
      // the branch taken counts, as in JavaScript.
      const oob = e.indices.map((x, i) => `u32(${w(x)}) >= ${c.shape[i]}u`).join(' || ');
      return `select(bitcast<f32>(${at}), mods_bits(0x7fc00000u), ${oob})`;
    }
    case 'unary':
      return `(${e.op}${w(e.arg)})`;
    case 'binary':
      return `(${w(e.left)} ${e.op} ${w(e.right)})`;
    case 'cond':
      return `select(${w(e.else)}, ${w(e.then)}, ${w(e.test)})`;
    case 'call':
      if (e.fn === 'tanh') return `tanh(clamp(${w(e.args[0]!)}, -15.0f, 15.0f))`;
      if (e.fn === 'sin' || e.fn === 'cos') return `mods_${e.fn}(${w(e.args[0]!)})`;
      if (e.fn === 'tan') return `(mods_sin(${w(e.args[0]!)}) / mods_cos(${w(e.args[0]!)}))`;
      if (e.fn === 'trunc' && e.ty === 'int') return `i32(trunc(${w(e.args[0]!)}))`;
      return `${e.fn}(${e.args.map(w).join(', ')})`;
    case 'cast':
      return `f32(${w(e.arg)})`;
  }
}

/** Flat u32 offset of a captured-array read, each index clamped into its dim (as WGSL must). */
function elemIndexWgsl(e: Expr & { kind: 'elem' }, shape: readonly number[], strides: readonly number[], w: (x: Expr) => string): string {
  return e.indices.map((x, i) => `u32(clamp(${w(x)}, 0i, ${shape[i]! - 1}i)) * ${strides[i]}u`).join(' + ');
}

/** Every read of a captured array in a program (locals first, then the body), in a stable order. */
export function elemReads(p: Program): (Expr & { kind: 'elem' })[] {
  const out: (Expr & { kind: 'elem' })[] = [];
  const walk = (e: Expr): void => {
    switch (e.kind) {
      case 'elem': out.push(e); e.indices.forEach(walk); return;
      case 'unary': case 'cast': walk(e.arg); return;
      case 'binary': walk(e.left); walk(e.right); return;
      case 'cond': walk(e.test); walk(e.then); walk(e.else); return;
      case 'call': e.args.forEach(walk); return;
      default: return;
    }
  };
  p.locals.forEach((l) => walk(l.value));
  walk(p.body);
  return out;
}

/** A program whose value is the flat element index a read of a captured array uses. */
export function elemIndexProgram(p: Program, e: Expr & { kind: 'elem' }): Program {
  const c = p.captures[e.cap]!;
  if (c.kind !== 'tensor') throw new ModError('internal: element of a scalar');
  let body: Expr | null = null;
  e.indices.forEach((x, i) => {
    const clamped: Expr = { kind: 'call', fn: 'min', args: [{ kind: 'call', fn: 'max', args: [x, { kind: 'num', value: 0, ty: 'int' }], ty: 'int' }, { kind: 'num', value: c.shape[i]! - 1, ty: 'int' }], ty: 'int' };
    const term: Expr = { kind: 'binary', op: '*', left: clamped, right: { kind: 'num', value: c.strides[i]!, ty: 'int' }, ty: 'int' };
    body = body ? { kind: 'binary', op: '+', left: body, right: term, ty: 'int' } : term;
  });
  return { ...p, body: body! };
}

const WGSL_TY = { bool: 'bool', int: 'i32', float: 'f32' } as const;

/**
 * For a score program: one WGSL condition per read of a captured int array that JavaScript would
 * evaluate (the branch taken of `?:`, the right side of `&&` / `||` only when it runs) and whose
 * index is out of range. The CPU throws there; WGSL would read a clamped neighbour, so the score
 * becomes NaN instead (a float read does this itself, see wgslExpr).
 */
function intReadGuards(p: Program, offs: number[], ref: WgslDataRef): string[] {
  const w = (x: Expr): string => wgslExpr(x, offs, p, ref);
  const both = (path: string | null, c: string): string => (path ? `(${path} && ${c})` : c);
  const out: string[] = [];
  const walk = (e: Expr, path: string | null): void => {
    switch (e.kind) {
      case 'elem': {
        e.indices.forEach((x) => walk(x, path));
        if (e.ty !== 'int') return;
        const c = p.captures[e.cap]!;
        if (c.kind !== 'tensor') return;
        out.push(both(path, `(${e.indices.map((x, i) => `u32(${w(x)}) >= ${c.shape[i]}u`).join(' || ')})`));
        return;
      }
      case 'unary':
      case 'cast':
        walk(e.arg, path);
        return;
      case 'binary':
        walk(e.left, path);
        if (e.op === '&&') walk(e.right, both(path, w(e.left)));
        else if (e.op === '||') walk(e.right, both(path, `!${w(e.left)}`));
        else walk(e.right, path);
        return;
      case 'cond':
        walk(e.test, path);
        walk(e.then, both(path, w(e.test)));
        walk(e.else, both(path, `!${w(e.test)}`));
        return;
      case 'call':
        e.args.forEach((x) => walk(x, path));
        return;
      default:
        return;
    }
  };
  p.locals.forEach((l) => walk(l.value, null));
  walk(p.body, null);
  return out;
}

/** Words of mod data this program's captures need. */
export function captureWords(p: Program): number {
  return p.captures.reduce((n, c) => n + (c.kind === 'scalar' ? 1 : c.data.length), 0);
}

/** Write a program's captures into `out` at `at` (u32 words); returns each capture's offset. */
export function packCaptures(p: Program, out: Uint32Array, at: number): number[] {
  const f32 = new Float32Array(out.buffer, out.byteOffset, out.length);
  const i32 = new Int32Array(out.buffer, out.byteOffset, out.length);
  const offs: number[] = [];
  let o = at;
  for (const c of p.captures) {
    offs.push(o - at);
    if (c.kind === 'scalar') {
      if (c.ty === 'float') f32[o] = c.value;
      else i32[o] = c.value;
      o++;
    } else {
      if (c.ty === 'float') f32.set(c.data, o);
      else i32.set(c.data, o);
      o += c.data.length;
    }
  }
  return offs;
}

/**
 * A WGSL function for the program. Mask: fn name(b, h, q, k, qoff: i32) -> bool;
 * score: fn name(s: f32, b, h, q, k, qoff: i32) -> f32. `offs` are capture offsets relative to
 * `ref.base` plus `at` (the program's start in the data region).
 */
export function programToWgsl(p: Program, name: string, ref: WgslDataRef, offs: number[], at: number, intResult = false): string {
  const absOffs = offs.map((o) => o + at);
  const params = (p.role === 'mask' ? '' : 's: f32, ') + 'b: i32, h: i32, q: i32, k: i32, qoff: i32';
  const ret = p.role === 'mask' ? 'bool' : intResult ? 'i32' : 'f32';
  const lines = p.locals.map((l, i) => `  let l${i}: ${WGSL_TY[l.value.ty]} = ${wgslExpr(l.value, absOffs, p, ref)};`);
  const poison = p.role === 'score' && !intResult ? intReadGuards(p, absOffs, ref) : [];
  if (poison.length) lines.push(`  if (${poison.join(' || ')}) { return mods_bits(0x7fc00000u); }`);
  return `fn ${name}(${params}) -> ${ret} {\n${lines.join('\n')}${lines.length ? '\n' : ''}  return ${wgslExpr(p.body, absOffs, p, ref)};\n}\n`;
}
