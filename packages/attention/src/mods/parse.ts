/**
 * A small recursive-descent parser for the maskMod / scoreMod subset of JavaScript:
 * an arrow function (or `function` expression) whose body is an expression, or a block of
 * `const` declarations followed by one `return`. Expressions: number and boolean literals,
 * `Infinity`, identifiers, + - * / % **, comparisons, && || !, ternary, `Math.f(...)`,
 * `Math.PI`/`Math.E`, and indexing `name[i][j]`. Everything else is rejected with a ModError
 * naming the construct. Nesting deeper than MAX_DEPTH is refused before the stack runs out.
 */

/** Deepest expression tree accepted (parentheses, operator chains, calls all count). */
export const MAX_DEPTH = 200;

export class ModError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModError';
  }
}

export type RawExpr =
  | { kind: 'num'; value: number; isInt: boolean }
  | { kind: 'bool'; value: boolean }
  | { kind: 'ident'; name: string }
  | { kind: 'unary'; op: '-' | '+' | '!'; arg: RawExpr }
  | { kind: 'binary'; op: string; left: RawExpr; right: RawExpr }
  | { kind: 'cond'; test: RawExpr; then: RawExpr; else: RawExpr }
  | { kind: 'call'; fn: string; args: RawExpr[] }
  | { kind: 'mathConst'; name: string }
  | { kind: 'index'; target: RawExpr; index: RawExpr };

export interface RawFunction {
  params: string[];
  locals: { name: string; value: RawExpr }[];
  body: RawExpr;
}

interface Token {
  t: 'num' | 'id' | 'punct' | 'eof';
  v: string;
  pos: number;
}

const PUNCT = [
  '>>>=', '===', '!==', '**=', '<<=', '>>=', '>>>', '...',
  '=>', '==', '!=', '<=', '>=', '&&', '||', '??', '?.', '**', '++', '--', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<', '>>',
  '(', ')', '[', ']', '{', '}', ',', ';', '.', '?', ':', '+', '-', '*', '/', '%', '<', '>', '!', '=', '&', '|', '^', '~', '@', '#',
];

// Null-prototype tables: an identifier named `constructor` or `__proto__` must not find Object's.
const table = (o: Record<string, string>): Record<string, string> => Object.assign(Object.create(null) as Record<string, string>, o);

const UNSUPPORTED_PUNCT: Record<string, string> = table({
  '&': "bitwise operator '&'", '|': "bitwise operator '|'", '^': "bitwise operator '^'", '~': "bitwise operator '~'",
  '<<': "shift operator '<<'", '>>': "shift operator '>>'", '>>>': "shift operator '>>>'",
  '??': "nullish operator '??'", '?.': "optional chaining '?.'", '++': "increment '++'", '--': "decrement '--'",
  '+=': "assignment '+='", '-=': "assignment '-='", '*=': "assignment '*='", '/=': "assignment '/='", '%=': "assignment '%='",
  '&=': "assignment '&='", '|=': "assignment '|='", '^=': "assignment '^='", '<<=': "assignment '<<='", '>>=': "assignment '>>='",
  '>>>=': "assignment '>>>='", '**=': "assignment '**='", '...': "spread '...'", '@': "decorator '@'", '#': "private name '#'",
});

const UNSUPPORTED_KEYWORDS: Record<string, string> = table({
  if: "'if' statement (use a ternary)", for: "'for' loop", while: "'while' loop", do: "'do' loop", switch: "'switch' statement",
  new: "'new' expression", this: "'this'", async: 'async function', await: "'await'", yield: "'yield'", class: 'class',
  typeof: "'typeof'", instanceof: "'instanceof'", in: "'in' operator", delete: "'delete'", void: "'void'", null: "'null'",
  undefined: "'undefined'", NaN: "'NaN'", try: "'try' statement", throw: "'throw' statement",
  var: "'var' declaration (use const)", super: "'super'", import: "'import'",
});

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(0[xX][0-9a-fA-F_]+|0[bB][01_]+|(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?(?:[eE][+-]?[0-9]+)?)/.exec(src.slice(i))!;
      if (src[i + m[0].length] === 'n') throw new ModError(`unsupported construct: BigInt literal at ${i}`);
      out.push({ t: 'num', v: m[0], pos: i });
      i += m[0].length;
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(src.slice(i))!;
      out.push({ t: 'id', v: m[0], pos: i });
      i += m[0].length;
      continue;
    }
    if (c === '"' || c === "'") throw new ModError(`unsupported construct: string literal at ${i}`);
    if (c === '`') throw new ModError(`unsupported construct: template literal at ${i}`);
    const p = PUNCT.find((x) => src.startsWith(x, i));
    if (!p) throw new ModError(`unsupported character '${c}' at ${i}`);
    out.push({ t: 'punct', v: p, pos: i });
    i += p.length;
  }
  out.push({ t: 'eof', v: '', pos: src.length });
  return out;
}

const MATH_FNS = new Set(['min', 'max', 'abs', 'exp', 'log', 'floor', 'ceil', 'sqrt', 'tanh', 'pow', 'sign', 'sin', 'cos', 'tan']);
const MATH_CONSTS = new Set(['PI', 'E']);

class Parser {
  private i = 0;
  /** Depth of each node built so far (children are always built first). */
  private readonly depths = new WeakMap<RawExpr, number>();
  /** Recursion depth of expr(), checked before descending further. */
  private nesting = 0;
  constructor(private readonly toks: Token[]) {}

  private node(e: RawExpr, ...children: RawExpr[]): RawExpr {
    const d = 1 + children.reduce((m, c) => Math.max(m, this.depths.get(c) ?? 1), 0);
    if (d > MAX_DEPTH) throw new ModError(`expression nested deeper than ${MAX_DEPTH} levels (operator chains count one level per operator); split it with const declarations`);
    this.depths.set(e, d);
    return e;
  }

  private peek(o = 0): Token {
    return this.toks[Math.min(this.i + o, this.toks.length - 1)]!;
  }
  private is(v: string): boolean {
    const t = this.peek();
    return (t.t === 'punct' || t.t === 'id') && t.v === v;
  }
  private eat(v: string): boolean {
    if (this.is(v)) {
      this.i++;
      return true;
    }
    return false;
  }
  private expect(v: string): void {
    const t = this.peek();
    if (!this.eat(v)) throw this.unexpected(t, `'${v}'`);
  }
  private unexpected(t: Token, wanted: string): ModError {
    if (t.t === 'punct' && UNSUPPORTED_PUNCT[t.v]) return new ModError(`unsupported construct: ${UNSUPPORTED_PUNCT[t.v]} at ${t.pos}`);
    if (t.t === 'id' && UNSUPPORTED_KEYWORDS[t.v]) return new ModError(`unsupported construct: ${UNSUPPORTED_KEYWORDS[t.v]} at ${t.pos}`);
    if (t.t === 'eof') return new ModError(`unexpected end of source, expected ${wanted}`);
    return new ModError(`unexpected '${t.v}' at ${t.pos}, expected ${wanted}`);
  }
  private ident(): string {
    const t = this.peek();
    if (t.t !== 'id') throw this.unexpected(t, 'an identifier');
    if (UNSUPPORTED_KEYWORDS[t.v]) throw this.unexpected(t, 'an identifier');
    this.i++;
    return t.v;
  }

  /** Skip a TypeScript type annotation up to one of the stop tokens at nesting depth 0. */
  private skipType(stops: string[]): void {
    let depth = 0;
    for (;;) {
      const t = this.peek();
      if (t.t === 'eof') return;
      if (depth === 0 && t.t === 'punct' && stops.includes(t.v)) return;
      if (t.v === '(' || t.v === '[' || t.v === '{' || t.v === '<') depth++;
      if (t.v === ')' || t.v === ']' || t.v === '}' || t.v === '>') depth--;
      this.i++;
    }
  }

  parseFunction(): RawFunction {
    let params: string[];
    const t = this.peek();
    if (t.t === 'id' && t.v === 'async') throw this.unexpected(t, 'a function');
    if (this.eat('function')) {
      if (this.eat('*')) throw new ModError('unsupported construct: generator function');
      if (this.peek().t === 'id') this.i++;
      params = this.params();
      if (this.eat(':')) this.skipType(['{']);
      const fn = this.block(params);
      this.end();
      return fn;
    }
    if (this.peek().t === 'id' && this.peek(1).v === '=>') {
      params = [this.ident()];
    } else {
      params = this.params();
      if (this.eat(':')) this.skipType(['=>']);
    }
    this.expect('=>');
    let fn: RawFunction;
    if (this.is('{')) fn = this.block(params);
    else fn = { params, locals: [], body: this.expr() };
    this.end();
    return fn;
  }

  private end(): void {
    const t = this.peek();
    if (t.t !== 'eof') throw this.unexpected(t, 'the end of the function');
  }

  private params(): string[] {
    this.expect('(');
    const ps: string[] = [];
    while (!this.is(')')) {
      const t = this.peek();
      if (t.v === '{' || t.v === '[') throw new ModError(`unsupported construct: destructuring parameter at ${t.pos}`);
      if (t.v === '...') throw new ModError(`unsupported construct: rest parameter at ${t.pos}`);
      ps.push(this.ident());
      if (this.eat('?')) {
        /* optional marker in TS: ignore */
      }
      if (this.eat(':')) this.skipType([',', ')', '=']);
      if (this.is('=')) throw new ModError(`unsupported construct: default parameter value at ${this.peek().pos}`);
      if (!this.eat(',')) break;
    }
    this.expect(')');
    return ps;
  }

  private block(params: string[]): RawFunction {
    this.expect('{');
    const locals: { name: string; value: RawExpr }[] = [];
    for (;;) {
      while (this.eat(';'));
      if (this.is('const') || this.is('let')) {
        this.i++;
        do {
          const t = this.peek();
          if (t.v === '{' || t.v === '[') throw new ModError(`unsupported construct: destructuring declaration at ${t.pos}`);
          const name = this.ident();
          if (this.eat(':')) this.skipType(['=']);
          this.expect('=');
          locals.push({ name, value: this.expr() });
        } while (this.eat(','));
        continue;
      }
      if (this.eat('return')) {
        const body = this.expr();
        while (this.eat(';'));
        const t = this.peek();
        if (!this.eat('}')) throw t.t === 'eof' ? this.unexpected(t, "'}'") : new ModError(`unsupported construct: statement after return at ${t.pos}`);
        return { params, locals, body };
      }
      const t = this.peek();
      if (t.t === 'id' && UNSUPPORTED_KEYWORDS[t.v]) throw this.unexpected(t, 'a declaration or return');
      if (t.v === '}') throw new ModError('the function body must end with a return statement');
      if (t.t === 'id' && this.peek(1).v === '=') throw new ModError(`unsupported construct: assignment to '${t.v}' at ${t.pos}`);
      throw new ModError(`unsupported construct: expression statement at ${t.pos} (only const declarations and one return are allowed)`);
    }
  }

  expr(): RawExpr {
    if (++this.nesting > MAX_DEPTH) throw new ModError(`expression nested deeper than ${MAX_DEPTH} levels`);
    try {
      return this.exprInner();
    } finally {
      this.nesting--;
    }
  }

  private exprInner(): RawExpr {
    const test = this.or();
    if (this.eat('?')) {
      const then = this.expr();
      this.expect(':');
      const els = this.expr();
      return this.node({ kind: 'cond', test, then, else: els }, test, then, els);
    }
    if (this.is('=')) throw new ModError(`unsupported construct: assignment at ${this.peek().pos}`);
    if (this.is(',')) {
      // A comma here is only legal inside calls/declarations, handled by callers.
    }
    return test;
  }

  private binLevel(ops: string[], sub: () => RawExpr): RawExpr {
    let left = sub();
    for (;;) {
      const t = this.peek();
      if (t.t === 'punct' && ops.includes(t.v)) {
        this.i++;
        const right = sub();
        left = this.node({ kind: 'binary', op: t.v, left, right }, left, right);
      } else if (t.t === 'punct' && UNSUPPORTED_PUNCT[t.v] && t.v !== '...') {
        throw this.unexpected(t, 'an operator');
      } else if (t.t === 'id' && (t.v === 'in' || t.v === 'instanceof' || t.v === 'as' || t.v === 'satisfies')) {
        throw t.v === 'as' || t.v === 'satisfies' ? new ModError(`unsupported construct: type assertion '${t.v}' at ${t.pos}`) : this.unexpected(t, 'an operator');
      } else {
        return left;
      }
    }
  }

  private or(): RawExpr {
    return this.binLevel(['||'], () => this.and());
  }
  private and(): RawExpr {
    return this.binLevel(['&&'], () => this.eq());
  }
  private eq(): RawExpr {
    return this.binLevel(['==', '!=', '===', '!=='], () => this.rel());
  }
  private rel(): RawExpr {
    return this.binLevel(['<', '>', '<=', '>='], () => this.add());
  }
  private add(): RawExpr {
    return this.binLevel(['+', '-'], () => this.mul());
  }
  private mul(): RawExpr {
    return this.binLevel(['*', '/', '%'], () => this.unary());
  }
  /** `prefixed`: under a unary operator, where JavaScript forbids `**` (`-x ** 2` is a SyntaxError). */
  private unary(prefixed = false): RawExpr {
    const t = this.peek();
    if (t.t === 'punct' && (t.v === '-' || t.v === '+' || t.v === '!')) {
      this.i++;
      if (++this.nesting > MAX_DEPTH) throw new ModError(`expression nested deeper than ${MAX_DEPTH} levels`);
      const arg = this.unary(true);
      this.nesting--;
      return this.node({ kind: 'unary', op: t.v, arg }, arg);
    }
    if (t.t === 'punct' && (t.v === '~' || t.v === '++' || t.v === '--')) throw this.unexpected(t, 'an expression');
    if (t.t === 'id' && (t.v === 'typeof' || t.v === 'void' || t.v === 'delete' || t.v === 'await')) throw this.unexpected(t, 'an expression');
    const base = this.postfix();
    const op = this.peek();
    if (op.t === 'punct' && op.v === '**') {
      if (prefixed) throw new ModError(`syntax error at ${op.pos}: a unary operator before '**' needs parentheses, as in JavaScript: (-x) ** 2 or -(x ** 2)`);
      this.i++;
      const exp = this.unary();
      return this.node({ kind: 'call', fn: 'pow', args: [base, exp] }, base, exp);
    }
    return base;
  }
  private postfix(): RawExpr {
    let e = this.primary();
    for (;;) {
      if (this.eat('[')) {
        const index = this.expr();
        this.expect(']');
        e = this.node({ kind: 'index', target: e, index }, e, index);
        continue;
      }
      const t = this.peek();
      if (t.v === '(' && t.t === 'punct') throw new ModError(`unsupported construct: call of a non-Math function at ${t.pos}`);
      if (t.v === '.' && t.t === 'punct') throw new ModError(`unsupported construct: property access at ${t.pos} (only Math.* is allowed)`);
      if (t.v === '?.' || t.v === '++' || t.v === '--') throw this.unexpected(t, 'an operator');
      if (t.v === '!' && t.t === 'punct' && !(this.peek(1).v === '=' || this.peek(1).v === '==')) throw new ModError(`unsupported construct: non-null assertion '!' at ${t.pos}`);
      return e;
    }
  }
  private primary(): RawExpr {
    const t = this.peek();
    if (t.t === 'num') {
      this.i++;
      const clean = t.v.replace(/_/g, '');
      const value = Number(clean);
      if (!Number.isFinite(value)) throw new ModError(`bad number literal '${t.v}'`);
      const isInt = /^(0[xXbB]|[0-9]+$)/.test(clean);
      return { kind: 'num', value, isInt };
    }
    if (t.t === 'punct' && t.v === '(') {
      this.i++;
      const e = this.expr();
      if (this.is(',')) throw new ModError(`unsupported construct: comma operator at ${this.peek().pos}`);
      this.expect(')');
      if (this.is('=>')) throw new ModError(`unsupported construct: nested function at ${this.peek().pos}`);
      return e;
    }
    if (t.t === 'punct' && t.v === '[') throw new ModError(`unsupported construct: array literal at ${t.pos}`);
    if (t.t === 'punct' && t.v === '{') throw new ModError(`unsupported construct: object literal at ${t.pos}`);
    if (t.t === 'id') {
      if (t.v === 'true' || t.v === 'false') {
        this.i++;
        return { kind: 'bool', value: t.v === 'true' };
      }
      if (t.v === 'Infinity') {
        // FlexAttention's -inf: a score of -Infinity masks the key exactly.
        this.i++;
        return { kind: 'num', value: Infinity, isInt: false };
      }
      if (t.v === 'function') throw new ModError(`unsupported construct: nested function at ${t.pos}`);
      if (t.v === 'Math') {
        this.i++;
        this.expect('.');
        const nt = this.peek();
        const name = this.ident();
        if (MATH_CONSTS.has(name)) return { kind: 'mathConst', name };
        if (!MATH_FNS.has(name)) throw new ModError(`unsupported construct: Math.${name} at ${nt.pos} (supported: ${[...MATH_FNS].map((f) => 'Math.' + f).join(', ')}, Math.PI, Math.E)`);
        this.expect('(');
        const args: RawExpr[] = [];
        while (!this.is(')')) {
          args.push(this.expr());
          if (!this.eat(',')) break;
        }
        this.expect(')');
        return this.node({ kind: 'call', fn: name, args }, ...args);
      }
      const name = this.ident();
      if (this.is('=>')) throw new ModError(`unsupported construct: nested function at ${t.pos}`);
      return { kind: 'ident', name };
    }
    throw this.unexpected(t, 'an expression');
  }
}

/** Parse the source text of an arrow function or function expression in the supported subset. */
export function parseModSource(src: string): RawFunction {
  const trimmed = src.trim();
  if (/^(async\s)/.test(trimmed)) throw new ModError('unsupported construct: async function');
  if (/^[A-Za-z_$][\w$]*\s*\(/.test(trimmed) && !/^function\b/.test(trimmed)) {
    // Method shorthand `{ m(b,h,q,k) { ... } }.m.toString()` gives `m(b,h,q,k) { ... }`.
    return new Parser(tokenize('function ' + trimmed)).parseFunction();
  }
  return new Parser(tokenize(trimmed)).parseFunction();
}
