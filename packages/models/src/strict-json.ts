/**
 * A strict JSON reader for files we load (safetensors headers, config.json, tokenizers).
 * JSON.parse keeps the last of two equal keys silently and builds objects whose inherited names
 * (`constructor`, `toString`) look like entries; here a repeated key is an error, objects have a
 * null prototype (a `__proto__` key is ordinary data), and nesting is bounded so a hostile file
 * cannot overflow the stack.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export class JsonSyntaxError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} at character ${position}`);
    this.name = 'JsonSyntaxError';
  }
}

/** Deeper than any file format we read needs (a safetensors header is 3 levels). */
export const MAX_JSON_DEPTH = 64;

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const PLAIN_STRING = /"([^"\\\u0000-\u001f]*)"/y;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

export function parseStrictJson(text: string): JsonValue {
  let i = 0;
  const fail = (msg: string): never => {
    throw new JsonSyntaxError(msg, i);
  };
  const ws = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return;
    }
  };
  const str = (): string => {
    PLAIN_STRING.lastIndex = i;
    const m = PLAIN_STRING.exec(text);
    if (m) {
      i = PLAIN_STRING.lastIndex;
      return m[1]!;
    }
    if (text[i] !== '"') fail('expected a string');
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c.charCodeAt(0) < 0x20) fail('control character in a string');
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = text[i + 1];
      if (e === 'u') {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else if (e !== undefined && e in ESCAPES) {
        out += ESCAPES[e]!;
        i += 2;
      } else fail('bad escape');
    }
  };
  const value = (depth: number): JsonValue => {
    if (depth > MAX_JSON_DEPTH) fail(`nesting deeper than ${MAX_JSON_DEPTH}`);
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = Object.create(null) as JsonObject;
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        const at = i;
        const key = str();
        // `in` is an own-property test here: the object has no prototype.
        if (key in obj) {
          i = at;
          fail(`repeated key ${JSON.stringify(key)}`);
        }
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        obj[key] = value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return obj;
        } else fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return arr;
        } else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) return (i += 4), true;
    if (text.startsWith('false', i)) return (i += 5), false;
    if (text.startsWith('null', i)) return (i += 4), null;
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail(i >= text.length ? 'unexpected end of input' : `unexpected ${JSON.stringify(text[i])}`);
    i = NUMBER.lastIndex;
    return Number(m[0]);
  };
  const v = value(0);
  ws();
  if (i < text.length) fail('unexpected text after the JSON value');
  return v;
}

/** A JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
