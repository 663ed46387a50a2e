import { ModError, parseModSource, type RawExpr } from './parse.js';

/** Value types of the subset: WGSL bool / i32 / f32. JS numbers that are integers stay int. */
export type Ty = 'bool' | 'int' | 'float';

export type VarName = 's' | 'b' | 'h' | 'q' | 'k';

export type BinOp = '+' | '-' | '*' | '/' | '%' | '<' | '<=' | '>' | '>=' | '==' | '!=' | '&&' | '||';

export type Expr = (
  | { kind: 'num'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'var'; name: VarName }
  | { kind: 'local'; id: number }
  | { kind: 'scalar'; cap: number }
  | { kind: 'elem'; cap: number; indices: Expr[] }
  | { kind: 'qoff' }
  | { kind: 'unary'; op: '-' | '!'; arg: Expr }
  | { kind: 'binary'; op: BinOp; left: Expr; right: Expr }
  | { kind: 'cond'; test: Expr; then: Expr; else: Expr }
  | { kind: 'call'; fn: string; args: Expr[] }
  | { kind: 'cast'; arg: Expr }
) & { ty: Ty };

/** A host array captured by a mod: int32 or float32 values, row-major with `shape`. */
export interface CaptureArray {
  readonly shape: readonly number[];
  readonly dtype: 'int32' | 'float32';
  readonly data: ArrayLike<number>;
}

/** Nested arrays of numbers (rectangular), e.g. number[][] indexed as t[h][q]. */
export type NestedNumbers = readonly number[] | readonly NestedNumbers[];

/**
 * What `captures` may hold: numbers, booleans, Int32Array / Float32Array (1-D), nested number
 * arrays (int32 when every value is an integer, else float32), or a CaptureArray.
 */
export type CaptureValue = number | boolean | Int32Array | Float32Array | NestedNumbers | CaptureArray | CaptureTensor;

/**
 * A float32 tensor of @attnlab/tensor (structurally): attention() reads its values at each call,
 * and when it requires grad the scoreMod's gradient flows into it (learnable ALiBi slopes,
 * relative-bias tables), as FlexAttention's score_mod gives captured buffers.
 */
export interface CaptureTensor {
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly requiresGrad: boolean;
  data(): Promise<ArrayLike<number>>;
}

export function isCaptureTensor(v: unknown): v is CaptureTensor {
  const t = v as Partial<CaptureTensor> | null;
  return typeof t === 'object' && t !== null && Array.isArray(t.shape) && typeof t.data === 'function' && typeof t.requiresGrad === 'boolean';
}

function flattenNested(name: string, v: NestedNumbers): { shape: number[]; flat: number[] } {
  const shape: number[] = [];
  let t: unknown = v;
  while (Array.isArray(t)) {
    shape.push(t.length);
    t = t[0];
  }
  const flat: number[] = [];
  const walk = (x: unknown, dim: number): void => {
    if (dim === shape.length) {
      if (typeof x !== 'number') throw new ModError(`capture '${name}' holds a non-number (${typeof x})`);
      flat.push(x);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[dim]) throw new ModError(`capture '${name}' is a ragged array; captured arrays must be rectangular`);
    for (const y of x) walk(y, dim + 1);
  };
  walk(v, 0);
  return { shape, flat };
}

export type Capture =
  | { name: string; kind: 'scalar'; ty: Ty; value: number }
  | { name: string; kind: 'tensor'; ty: 'int' | 'float'; shape: number[]; strides: number[]; data: Int32Array | Float32Array; source?: CaptureTensor };

export interface Program {
  /** 'mask' returns bool, 'score' returns a number (f32). */
  readonly role: 'mask' | 'score';
  readonly locals: { name: string; value: Expr }[];
  readonly body: Expr;
  readonly captures: Capture[];
  /** Which canonical variables the program reads (after alignment). */
  readonly uses: ReadonlySet<VarName | 'qoff'>;
  /** The source it came from, for messages. */
  readonly source: string;
}

function normalizeCapture(name: string, v: CaptureValue): Capture {
  if (typeof v === 'boolean') return { name, kind: 'scalar', ty: 'bool', value: v ? 1 : 0 };
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ModError(`capture '${name}' is ${v}; captured numbers must be finite`);
    const isInt = Number.isInteger(v) && Math.abs(v) < 2 ** 31;
    return { name, kind: 'scalar', ty: isInt ? 'int' : 'float', value: v };
  }
  let shape: number[];
  let dtype: 'int32' | 'float32';
  let src: ArrayLike<number>;
  if (isCaptureTensor(v)) {
    if (v.dtype !== 'float32') throw new ModError(`captured tensor '${name}' must be float32, got ${v.dtype}`);
    const shp = [...v.shape];
    if (shp.length === 0 || shp.some((d) => !Number.isInteger(d) || d < 1)) throw new ModError(`captured tensor '${name}' has shape [${shp.join(', ')}]; use a tensor of rank >= 1 with no empty dim`);
    const size = shp.reduce((a, b) => a * b, 1);
    const strides = shp.map((_, i) => shp.slice(i + 1).reduce((a, b) => a * b, 1));
    // Values are read by attention() at each call; zeros until then.
    return { name, kind: 'tensor', ty: 'float', shape: shp, strides, data: new Float32Array(size), source: v };
  }
  if (v instanceof Int32Array || v instanceof Float32Array) {
    shape = [v.length];
    dtype = v instanceof Int32Array ? 'int32' : 'float32';
    src = v;
  } else if (Array.isArray(v)) {
    const f = flattenNested(name, v as NestedNumbers);
    shape = f.shape;
    src = f.flat;
    dtype = f.flat.every((x) => Number.isInteger(x) && Math.abs(x) < 2 ** 31) ? 'int32' : 'float32';
  } else if (v && typeof v === 'object' && Array.isArray((v as CaptureArray).shape)) {
    v = v as CaptureArray;
    shape = [...v.shape];
    dtype = v.dtype;
    src = v.data;
    if (dtype !== 'int32' && dtype !== 'float32') throw new ModError(`capture '${name}' has dtype ${String(dtype)}; only int32 and float32 arrays can be captured`);
  } else {
    throw new ModError(`capture '${name}' must be a number, a boolean, an Int32Array/Float32Array, a nested number array or { shape, dtype, data }`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (shape.some((d) => !Number.isInteger(d) || d < 1)) throw new ModError(`capture '${name}' has bad shape [${shape.join(', ')}]`);
  if (src.length !== size) throw new ModError(`capture '${name}' has ${src.length} values but shape [${shape.join(', ')}] needs ${size}`);
  const data = dtype === 'int32' ? Int32Array.from(src) : Float32Array.from(src);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { name, kind: 'tensor', ty: dtype === 'int32' ? 'int' : 'float', shape, strides, data };
}

const FLOAT_FNS = new Set(['exp', 'log', 'sqrt', 'tanh', 'pow', 'sin', 'cos', 'tan']);

/**
 * Literal-only float arithmetic is evaluated here: WGSL would evaluate it at shader creation and
 * reject results f32 cannot hold (`-1 / 0`, `Math.exp(100)`), while JavaScript gives Infinity.
 */
function foldBinary(op: string, a: number, b: number): number | null {
  switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/': return a / b;
    case '%': return a % b;
    default: return null;
  }
}

function num(value: number, ty: 'int' | 'float'): Expr {
  return { kind: 'num', value, ty };
}

export function toFloat(e: Expr): Expr {
  if (e.ty === 'float') return e;
  if (e.ty === 'bool') throw new ModError('a boolean cannot be used as a number');
  if (e.kind === 'num') return num(e.value, 'float');
  return { kind: 'cast', arg: e, ty: 'float' };
}

export interface CompileOptions {
  role: 'mask' | 'score';
  captures: Record<string, CaptureValue>;
  /** 'end': q is shifted by Nk - Nq (bottom-right alignment, as flash-attn's causal). */
  align: 'start' | 'end';
}

/** Parse, resolve names and type-check a mod function or source string. */
export function compileProgram(fn: ((...args: never[]) => unknown) | string, opts: CompileOptions): Program {
  const source = typeof fn === 'string' ? fn : Function.prototype.toString.call(fn);
  if (/\[native code\]/.test(source)) throw new ModError('cannot compile a native or bound function; pass an arrow function');
  const raw = parseModSource(source);
  const canon: VarName[] = opts.role === 'mask' ? ['b', 'h', 'q', 'k'] : ['s', 'b', 'h', 'q', 'k'];
  if (raw.params.length > canon.length) {
    throw new ModError(`a ${opts.role === 'mask' ? 'maskMod takes (b, h, q, k)' : 'scoreMod takes (s, b, h, q, k)'}, got ${raw.params.length} parameters`);
  }
  const captures: Capture[] = [];
  const capIndex = new Map<string, number>();
  for (const [name, v] of Object.entries(opts.captures)) {
    capIndex.set(name, captures.length);
    captures.push(normalizeCapture(name, v));
  }
  const uses = new Set<VarName | 'qoff'>();
  const locals: { name: string; value: Expr }[] = [];
  const scope = new Map<string, { kind: 'param'; v: VarName } | { kind: 'local'; id: number }>();
  raw.params.forEach((p, i) => scope.set(p, { kind: 'param', v: canon[i]! }));

  const check = (e: RawExpr): Expr => {
    switch (e.kind) {
      case 'num':
        return num(e.value, e.isInt && Math.abs(e.value) < 2 ** 31 ? 'int' : 'float');
      case 'bool':
        return { kind: 'bool', value: e.value, ty: 'bool' };
      case 'mathConst':
        return num(e.name === 'PI' ? Math.PI : Math.E, 'float');
      case 'ident': {
        const s = scope.get(e.name);
        if (s?.kind === 'param') {
          uses.add(s.v);
          const v: Expr = { kind: 'var', name: s.v, ty: s.v === 's' ? 'float' : 'int' };
          if (s.v === 'q' && opts.align === 'end') {
            uses.add('qoff');
            return { kind: 'binary', op: '+', left: v, right: { kind: 'qoff', ty: 'int' }, ty: 'int' };
          }
          return v;
        }
        if (s?.kind === 'local') return { kind: 'local', id: s.id, ty: locals[s.id]!.value.ty };
        const ci = capIndex.get(e.name);
        if (ci === undefined) {
          throw new ModError(`unknown identifier '${e.name}': closures are not visible to the compiler; pass it as { captures: { ${e.name} } }`);
        }
        const c = captures[ci]!;
        if (c.kind === 'tensor') throw new ModError(`captured array '${e.name}' must be indexed (${e.name}[i]...) to get a value`);
        return { kind: 'scalar', cap: ci, ty: c.ty };
      }
      case 'index': {
        const idx: RawExpr[] = [];
        let t: RawExpr = e;
        while (t.kind === 'index') {
          idx.unshift(t.index);
          t = t.target;
        }
        if (t.kind !== 'ident') throw new ModError('unsupported construct: indexing of a non-captured value');
        const ci = capIndex.get(t.name);
        if (ci === undefined) {
          if (scope.has(t.name)) throw new ModError(`unsupported construct: indexing '${t.name}', which is not a captured array`);
          throw new ModError(`unknown identifier '${t.name}': pass the array as { captures: { ${t.name} } }`);
        }
        const c = captures[ci]!;
        if (c.kind !== 'tensor') throw new ModError(`captured '${t.name}' is a scalar and cannot be indexed`);
        if (idx.length !== c.shape.length) {
          throw new ModError(`captured array '${t.name}' has ${c.shape.length} dims [${c.shape.join(', ')}] but is indexed with ${idx.length}`);
        }
        const indices = idx.map((r) => {
          const x = check(r);
          if (x.ty === 'bool') throw new ModError(`index of '${t.name}' is a boolean`);
          return x.ty === 'float' ? ({ kind: 'call', fn: 'trunc', args: [x], ty: 'int' } as Expr) : x;
        });
        return { kind: 'elem', cap: ci, indices, ty: c.ty };
      }
      case 'unary': {
        const a = check(e.arg);
        if (e.op === '!') {
          if (a.ty !== 'bool') throw new ModError("'!' needs a boolean operand (comparisons give booleans)");
          return { kind: 'unary', op: '!', arg: a, ty: 'bool' };
        }
        if (a.ty === 'bool') throw new ModError(`unary '${e.op}' needs a number, got a boolean`);
        if (e.op === '+') return a;
        if (a.kind === 'num') return num(-a.value, a.ty as 'int' | 'float');
        return { kind: 'unary', op: '-', arg: a, ty: a.ty };
      }
      case 'binary': {
        const op = e.op === '===' ? '==' : e.op === '!==' ? '!=' : e.op;
        let l = check(e.left);
        let r = check(e.right);
        if (op === '&&' || op === '||') {
          if (l.ty !== 'bool' || r.ty !== 'bool') throw new ModError(`'${op}' needs boolean operands (comparisons give booleans)`);
          return { kind: 'binary', op, left: l, right: r, ty: 'bool' };
        }
        if (op === '==' || op === '!=') {
          if ((l.ty === 'bool') !== (r.ty === 'bool')) throw new ModError(`'${e.op}' compares a boolean with a number`);
          if (l.ty !== 'bool' && l.ty !== r.ty) {
            l = toFloat(l);
            r = toFloat(r);
          }
          return { kind: 'binary', op, left: l, right: r, ty: 'bool' };
        }
        if (l.ty === 'bool' || r.ty === 'bool') throw new ModError(`'${e.op}' needs numbers, got a boolean`);
        if (!['+', '-', '*', '/', '%', '<', '<=', '>', '>='].includes(op)) throw new ModError(`unsupported construct: operator '${e.op}'`);
        // JS '/' is real division: always float.
        if (op === '/' || l.ty !== r.ty) {
          l = toFloat(l);
          r = toFloat(r);
        }
        const cmp = op === '<' || op === '<=' || op === '>' || op === '>=';
        if (!cmp && l.ty === 'float' && l.kind === 'num' && r.kind === 'num') {
          const v = foldBinary(op, l.value, r.value);
          if (v !== null) return num(v, 'float');
        }
        return { kind: 'binary', op: op as BinOp, left: l, right: r, ty: cmp ? 'bool' : l.ty };
      }
      case 'cond': {
        const test = check(e.test);
        if (test.ty !== 'bool') throw new ModError('the condition of a ternary must be a boolean (use a comparison)');
        let a = check(e.then);
        let b = check(e.else);
        if ((a.ty === 'bool') !== (b.ty === 'bool')) throw new ModError('ternary branches mix a boolean and a number');
        if (a.ty !== b.ty) {
          a = toFloat(a);
          b = toFloat(b);
        }
        return { kind: 'cond', test, then: a, else: b, ty: a.ty };
      }
      case 'call': {
        const args = e.args.map(check);
        for (const a of args) if (a.ty === 'bool') throw new ModError(`Math.${e.fn} needs numbers, got a boolean`);
        const arity: Record<string, [number, number]> = {
          min: [1, 99], max: [1, 99], abs: [1, 1], exp: [1, 1], log: [1, 1], floor: [1, 1], ceil: [1, 1],
          sqrt: [1, 1], tanh: [1, 1], pow: [2, 2], sign: [1, 1], sin: [1, 1], cos: [1, 1], tan: [1, 1],
        };
        const [lo, hi] = arity[e.fn]!;
        if (args.length < lo || args.length > hi) throw new ModError(`Math.${e.fn} takes ${lo === hi ? lo : `${lo} or more`} arguments, got ${args.length}`);
        if (FLOAT_FNS.has(e.fn) && args.every((a) => a.kind === 'num')) {
          const f = (Math as unknown as Record<string, (...x: number[]) => number>)[e.fn]!;
          return num(f(...args.map((a) => (a as { value: number }).value)), 'float');
        }
        if (FLOAT_FNS.has(e.fn)) return { kind: 'call', fn: e.fn, args: args.map(toFloat), ty: 'float' };
        if (e.fn === 'min' || e.fn === 'max') {
          const anyFloat = args.some((a) => a.ty === 'float');
          const as = anyFloat ? args.map(toFloat) : args;
          // Fold n-ary into nested binary calls.
          let acc = as[0]!;
          for (let i = 1; i < as.length; i++) acc = { kind: 'call', fn: e.fn, args: [acc, as[i]!], ty: acc.ty };
          return acc;
        }
        // abs, sign, floor, ceil keep the argument's type (floor of an int is itself).
        if ((e.fn === 'floor' || e.fn === 'ceil') && args[0]!.ty === 'int') return args[0]!;
        return { kind: 'call', fn: e.fn, args, ty: args[0]!.ty };
      }
    }
  };

  for (const l of raw.locals) {
    if (scope.has(l.name) && scope.get(l.name)!.kind === 'param') throw new ModError(`const '${l.name}' shadows a parameter`);
    const value = check(l.value);
    scope.set(l.name, { kind: 'local', id: locals.length });
    locals.push({ name: l.name, value });
  }
  let body = check(raw.body);
  if (opts.role === 'mask' && body.ty !== 'bool') throw new ModError('a maskMod must return a boolean (e.g. q >= k)');
  if (opts.role === 'score') {
    if (body.ty === 'bool') throw new ModError('a scoreMod must return a number');
    body = toFloat(body);
  }
  return { role: opts.role, locals, body, captures, uses, source };
}
