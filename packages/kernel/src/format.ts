/**
 * Plain-text form of values, in the style of Node's `util.inspect` (what `console.log` prints in
 * Node), written here because the browser worker has no `util`: both hosts print the same.
 * Short arrays and objects stay on one line (`[ 4, 3 ]`, `{ a: 1, b: 'x' }`), long arrays of
 * short items are packed in aligned columns, nesting deeper than `depth` shows `[Object]`, more
 * than `maxArrayLength` items end in `... N more items`. An object with a
 * `Symbol.for('Jupyter.display')` bundle inside an array or object reads as its summary line
 * (`[ Tensor(float32 [2, 3] on cpu), ... ]`).
 */
export interface FormatOptions {
  /** Nesting levels shown before `[Object]` (util.inspect's default: 2). */
  depth?: number;
  /** Line width a single-line form must fit in (default 80). */
  breakLength?: number;
  /** Items shown per array, Map or Set (default 100). */
  maxArrayLength?: number;
  /** Characters shown of a long string (default 10000). */
  maxStringLength?: number;
}

const DISPLAY = Symbol.for('Jupyter.display');
const IDENT = /^[A-Za-z_][A-Za-z_0-9]*$/;

interface Ctx {
  /** Nesting level of the object formatted last (util.inspect's rule for combining lines). */
  current: number;
  /** Objects found to contain themselves, and their `<ref *n>` numbers. */
  refs: Map<object, number>;
  depth: number;
  breakLength: number;
  maxArrayLength: number;
  maxStringLength: number;
  seen: object[];
}

export function formatValue(value: unknown, options: FormatOptions = {}): string {
  const ctx: Ctx = {
    depth: options.depth ?? 2,
    breakLength: options.breakLength ?? 80,
    maxArrayLength: options.maxArrayLength ?? 100,
    maxStringLength: options.maxStringLength ?? 10000,
    seen: [],
    current: 0,
    refs: new Map(),
  };
  return fmt(value, ctx, 0, 0);
}

/** A string as util.inspect quotes it: single quotes unless the text holds one. */
export function quote(s: string, max = Infinity): string {
  const cut = s.length > max ? s.slice(0, max) : s;
  const q = !cut.includes("'") ? "'" : !cut.includes('"') ? '"' : !cut.includes('`') ? '`' : "'";
  const body = cut.replace(/[\\\n\r\t\b\f\v\0]|[\u0001-\u001f\u007f]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\0': '\\0' })[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).split(q).join(q === "'" ? "\\'" : q);
  return q + body + q + (s.length > max ? `... ${s.length - max} more characters` : '');
}

function fmtPrimitive(v: unknown, ctx: Ctx): string | null {
  switch (typeof v) {
    case 'string': return quote(v, ctx.maxStringLength);
    case 'number': return Object.is(v, -0) ? '-0' : String(v);
    case 'bigint': return `${v}n`;
    case 'boolean': return String(v);
    case 'undefined': return 'undefined';
    case 'symbol': return v.toString();
    case 'function': return fmtFunction(v as (...a: unknown[]) => unknown);
    default: return v === null ? 'null' : null;
  }
}

function fmtFunction(f: (...a: unknown[]) => unknown): string {
  let src = '';
  try {
    src = Function.prototype.toString.call(f);
  } catch {
    // Proxies and some host functions refuse toString.
  }
  if (src.startsWith('class')) {
    const ext = /^class\s*[\w$]*\s+extends\s+([\w$.]+)/.exec(src);
    return `[class ${f.name || '(anonymous)'}${ext ? ` extends ${ext[1]}` : ''}]`;
  }
  const ctor = Object.getPrototypeOf(f)?.constructor?.name as string | undefined;
  const kind = ctor === 'AsyncFunction' || ctor === 'GeneratorFunction' || ctor === 'AsyncGeneratorFunction' ? ctor : 'Function';
  return f.name ? `[${kind}: ${f.name}]` : `[${kind} (anonymous)]`;
}

function ctorName(o: object): string | null {
  const proto = Object.getPrototypeOf(o) as { constructor?: { name?: unknown } } | null;
  if (proto === null) return null;
  const n = proto.constructor?.name;
  return typeof n === 'string' && n ? n : 'Object';
}

function keyText(k: string | symbol): string {
  if (typeof k === 'symbol') return `[${k.toString()}]`;
  return IDENT.test(k) ? k : quote(k);
}

function fmt(v: unknown, ctx: Ctx, level: number, indent: number): string {
  const p = fmtPrimitive(v, ctx);
  if (p !== null) return p;
  const o = v as object;
  if (ctx.seen.includes(o)) {
    if (!ctx.refs.has(o)) ctx.refs.set(o, ctx.refs.size + 1);
    return `[Circular *${ctx.refs.get(o)}]`;
  }
  // A displayable object inside an array or object reads as its one-line summary (the top level
  // is shown through its own bundle before it gets here).
  const displayed = level > 0 ? displayText(o) : null;
  if (displayed !== null) return displayed;
  if (o instanceof Date) return Number.isNaN(o.getTime()) ? 'Invalid Date' : o.toISOString();
  if (o instanceof RegExp) return String(o);
  if (o instanceof Error) return o.stack && o.stack.includes(o.message) ? o.stack : `${o.name}: ${o.message}`;
  if (o instanceof Promise) return 'Promise { <pending or settled: await it> }';
  if (o instanceof WeakMap || o instanceof WeakSet) return `${ctorName(o)} { <items unknown> }`;
  const name = ctorName(o);
  if (o instanceof ArrayBuffer) return `ArrayBuffer { byteLength: ${o.byteLength} }`;
  const isArray = Array.isArray(o);
  const typed = ArrayBuffer.isView(o) && !(o instanceof DataView) ? (o as unknown as ArrayLike<number | bigint>) : null;
  let start: string;
  let end: string;
  if (isArray) {
    start = name === 'Array' ? '[' : `${name}(${o.length}) [`;
    end = ']';
  } else if (typed) {
    start = `${name}(${typed.length}) [`;
    end = ']';
  } else if (o instanceof Map || o instanceof Set) {
    start = `${name}(${o.size}) {`;
    end = '}';
  } else {
    const boxed = o instanceof Number || o instanceof String || o instanceof Boolean ? `[${name}: ${fmtPrimitive(o.valueOf(), ctx)}]` : null;
    if (boxed) return boxed;
    start = name === null ? '[Object: null prototype] {' : name === 'Object' ? '{' : `${name} {`;
    end = '}';
  }
  const empty = isArray || typed ? (isArray ? (o as unknown[]).length : typed!.length) === 0 : o instanceof Map || o instanceof Set ? o.size === 0 : Object.keys(o).length === 0 && !Object.getOwnPropertySymbols(o).some((k) => k !== DISPLAY && Object.prototype.propertyIsEnumerable.call(o, k));
  if (empty) return `${start}${end}`;
  if (level > ctx.depth) return isArray || typed ? `[${name === 'Array' ? 'Array' : name}]` : `[${name ?? 'Object'}]`;
  ctx.seen.push(o);
  ctx.current = level;
  const items: string[] = [];
  let extra = 0;
  let numeric = false;
  try {
    const inner = indent + 2;
    if (isArray || typed) {
      const arr = (isArray ? o : typed) as ArrayLike<unknown>;
      const n = Math.min(arr.length, ctx.maxArrayLength);
      let holes = 0;
      for (let i = 0; i < n; i++) {
        if (isArray && !(i in (o as unknown[]))) {
          holes++;
          continue;
        }
        if (holes) items.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`), (holes = 0);
        items.push(fmt(arr[i], ctx, level + 1, inner));
      }
      if (holes) items.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
      extra = arr.length - n;
      numeric = n > 0 && Array.from({ length: n }, (_, i) => arr[i]).every((x) => typeof x === 'number' || typeof x === 'bigint');
      // Extra own keys on an array (rare): shown after the items, as util.inspect does.
      if (isArray) for (const k of Object.keys(o)) if (!/^\d+$/.test(k)) items.push(`${keyText(k)}: ${fmt((o as unknown as Record<string, unknown>)[k], ctx, level + 1, inner)}`);
    } else if (o instanceof Map) {
      let i = 0;
      for (const [k, val] of o) {
        if (i++ >= ctx.maxArrayLength) break;
        items.push(`${fmt(k, ctx, level + 1, inner)} => ${fmt(val, ctx, level + 1, inner)}`);
      }
      extra = o.size - Math.min(o.size, ctx.maxArrayLength);
    } else if (o instanceof Set) {
      let i = 0;
      for (const val of o) {
        if (i++ >= ctx.maxArrayLength) break;
        items.push(fmt(val, ctx, level + 1, inner));
      }
      extra = o.size - Math.min(o.size, ctx.maxArrayLength);
    } else {
      for (const k of [...Object.keys(o), ...Object.getOwnPropertySymbols(o).filter((s) => s !== DISPLAY && Object.prototype.propertyIsEnumerable.call(o, s))]) {
        const d = Object.getOwnPropertyDescriptor(o, k)!;
        const shown = d.get ? (d.set ? '[Getter/Setter]' : '[Getter]') : d.set ? '[Setter]' : fmt(d.value, ctx, level + 1, inner);
        items.push(`${keyText(k)}: ${shown}`);
      }
    }
  } finally {
    ctx.seen.pop();
  }
  if (extra > 0) items.push(`... ${extra} more item${extra > 1 ? 's' : ''}`);
  if (items.length === 0) return `${start}${end}`;
  // Arrays of more than six items are packed in columns first; a packed array spans lines.
  const lines = (isArray || typed) && items.length > 6 ? pack(items, extra > 0, numeric, ctx.breakLength, indent + 2) : items;
  const ref = ctx.refs.get(o);
  ctx.refs.delete(o);
  const prefix = ref ? `<ref *${ref}> ` : '';
  // One line when it fits and the object is among the three innermost levels (util.inspect's compact: 3).
  if (lines.length === items.length && ctx.current - level < 3 && !items.some((l) => l.includes('\n'))) {
    const width = items.reduce((a, l) => a + l.length, 0) + 2 * items.length + indent + start.length + 10;
    if (width <= ctx.breakLength) return `${prefix}${start} ${items.join(', ')} ${end}`;
  }
  const pad = ' '.repeat(indent + 2);
  return `${prefix}${start}\n${lines.map((l) => pad + l).join(',\n')}\n${' '.repeat(indent)}${end}`;
}

/**
 * Packs short items into aligned columns, several per line. The column count follows util.inspect's
 * heuristic: about 2.5 characters of width per line of height, at most 12 columns, never wider
 * than the line. Numbers are right-aligned, everything else left-aligned.
 */
function pack(items: string[], hasMore: boolean, numeric: boolean, breakLength: number, indent: number): string[] {
  const entries = hasMore ? items.slice(0, -1) : items;
  if (entries.some((s) => s.includes('\n'))) return items;
  const lens = entries.map((s) => s.length);
  const maxLen = Math.max(...lens) + 2;
  const total = lens.reduce((a, b) => a + b + 2, 0);
  if (!(maxLen * 3 + indent < breakLength && (total / maxLen > 5 || maxLen - 2 <= 6))) return items;
  const bias = Math.sqrt(maxLen - total / entries.length);
  const biased = Math.max(maxLen - 3 - bias, 1);
  const columns = Math.min(Math.round(Math.sqrt(2.5 * biased * entries.length) / biased), Math.floor((breakLength - indent) / maxLen), 12, 15);
  if (columns <= 1) return items;
  const colWidth: number[] = [];
  for (let c = 0; c < columns; c++) {
    let w = 0;
    for (let i = c; i < entries.length; i += columns) w = Math.max(w, lens[i]!);
    colWidth.push(w);
  }
  const out: string[] = [];
  for (let i = 0; i < entries.length; i += columns) {
    const row = entries.slice(i, i + columns);
    // The separator travels with its item, so strings read 'a',  'bb', (padding after the comma).
    out.push(row.map((s, c) => (c === row.length - 1 ? (numeric ? s.padStart(colWidth[c]!) : s) : numeric ? `${s.padStart(colWidth[c]!)}, ` : `${s}, `.padEnd(colWidth[c]! + 2))).join(''));
  }
  if (hasMore) out.push(items.at(-1)!);
  return out;
}

/**
 * The short text of an object with a display bundle (Tensor, Figure, model, widget): its own
 * toString when its class defines one (cheap: a figure need not render its SVG), else the
 * bundle's text/plain; the first line only (a tensor's values stay out of a list of tensors).
 */
function displayText(o: object): string | null {
  const f = (o as Record<symbol, unknown>)[DISPLAY];
  if (typeof f !== 'function') return null;
  try {
    const own = (o as { toString?: unknown }).toString;
    if (typeof own === 'function' && own !== Object.prototype.toString) {
      const t = String(own.call(o));
      return t.split('\n')[0]!;
    }
    const b = (f as () => unknown).call(o) as Record<string, unknown> | null;
    const t = b && typeof b === 'object' ? b['text/plain'] : undefined;
    return typeof t === 'string' ? t.split('\n')[0]! : null;
  } catch {
    return null;
  }
}
