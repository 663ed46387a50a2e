import { ModelError } from './errors.js';
import { isJsonObject, parseStrictJson, type JsonValue } from './strict-json.js';

/**
 * safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length,
 * a JSON header { name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {..} }, then
 * the raw little-endian data. Reading validates everything before touching data.
 */
export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64' | 'I16' | 'I8' | 'U8' | 'BOOL';

const BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Largest header we accept (the reference implementation uses 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafeTensor {
  dtype: SafetensorsDType;
  shape: number[];
  /** Values widened to what attnlab tensors hold: float32 for floats, int32 for ints. */
  data: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

function fail(msg: string): never {
  throw new ModelError('safetensors', msg);
}

interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parse and validate a safetensors file with the reference implementation's rules: a header length
 * inside the file, a header that is one JSON object (keys unique), dtype x shape matching each byte
 * span, and spans that, sorted by offset, tile the data section exactly from 0 to the end of the
 * file (no gap, no overlap, no trailing byte). Nothing is decoded before the whole header checks out.
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) fail(`expected the file's bytes as a Uint8Array, got ${describe(bytes)}`);
  if (bytes.byteLength < 8) fail(`file is truncated: ${bytes.byteLength} bytes, the 8-byte header length is missing`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(dv.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES) fail(`header length ${headerLen} bytes is over the ${MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)`);
  if (8 + headerLen > bytes.byteLength) fail(`file is truncated: the header says ${headerLen} bytes but only ${bytes.byteLength - 8} follow`);
  let header: JsonValue;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
    if (!text.startsWith('{')) fail(`header must be a JSON object starting with '{', it starts with ${JSON.stringify(text.slice(0, 8))}`);
    header = parseStrictJson(text);
  } catch (e) {
    if (e instanceof ModelError) throw e;
    fail(`header is not valid UTF-8 JSON (${(e as Error).message}; is the header length ${headerLen} right?)`);
  }
  if (!isJsonObject(header)) fail('header must be a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isJsonObject(entry)) fail('__metadata__ must be an object mapping strings to strings');
      const bad = Object.entries(entry).find(([, v]) => typeof v !== 'string');
      if (bad) fail(`__metadata__ must map strings to strings; '${bad[0]}' is ${describe(bad[1])}`);
      metadata = Object.fromEntries(Object.entries(entry)) as Record<string, string>;
      continue;
    }
    if (!isJsonObject(entry)) fail(`entry '${name}' is not an object`);
    const dtype = entry['dtype'];
    if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(BYTES, dtype)) fail(`tensor '${name}' has dtype '${String(dtype)}', which attnlab cannot read (supported: ${Object.keys(BYTES).join(', ')})`);
    const shape = entry['shape'];
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) fail(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    const offs = entry['data_offsets'];
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((d) => !Number.isSafeInteger(d) || (d as number) < 0) || (offs[0] as number) > (offs[1] as number)) fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    const dims = shape as number[];
    let numel = 1;
    for (const d of dims) numel *= d;
    const nbytes = numel * BYTES[dtype as SafetensorsDType];
    if (!Number.isSafeInteger(nbytes)) fail(`tensor '${name}' shape ${JSON.stringify(dims)} is too large`);
    if (end - begin !== nbytes) fail(`tensor '${name}' ${dtype} [${dims.join(', ')}] needs ${nbytes} bytes but data_offsets span ${end - begin}`);
    if (end > dataLen) fail(`tensor '${name}' runs past the end of the file: bytes [${begin}, ${end}) of a ${dataLen}-byte data section (truncated file?)`);
    entries.push({ name, dtype: dtype as SafetensorsDType, shape: dims, begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.begin < at) fail(`tensors '${entries[i - 1]!.name}' and '${e.name}' overlap: '${e.name}' starts at byte ${e.begin}, before ${at}`);
    if (e.begin > at) fail(`${e.begin - at} unused bytes before tensor '${e.name}' (data bytes [${at}, ${e.begin}) belong to no tensor)`);
    at = e.end;
  }
  if (at !== dataLen) fail(`${dataLen - at} bytes after the last tensor's data (the data section is ${dataLen} bytes, the tensors cover ${at}): a wrong header length or trailing bytes`);
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    const numel = e.shape.reduce((a, b) => a * b, 1);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(bytes, dataStart + e.begin, numel, e.dtype, e.name) });
  }
  return { tensors, metadata };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return (v as object).constructor?.name ? `a ${(v as object).constructor.name}` : 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Names of the floating-point tensors holding NaN or +-Infinity (legal in the format, rarely intended). */
export function nonFiniteTensors(file: SafetensorsFile): string[] {
  const out: string[] = [];
  for (const [name, t] of file.tensors) {
    if (!(t.data instanceof Float32Array)) continue;
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i]!)) {
        out.push(name);
        break;
      }
    }
  }
  return out;
}

function decode(bytes: Uint8Array, at: number, n: number, dtype: SafetensorsDType, name: string): Float32Array | Int32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + at, n * BYTES[dtype]);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'I32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
      return out;
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = dv.getBigInt64(8 * i, true);
        if (v > 2147483647n || v < -2147483648n) fail(`tensor '${name}' holds int64 value ${v} at ${i}, outside int32`);
        out[i] = Number(v);
      }
      return out;
    }
    case 'I16': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, true);
      return out;
    }
    case 'I8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
      return out;
    }
    case 'U8':
    case 'BOOL': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getUint8(i);
      return out;
    }
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export interface WritableTensor {
  shape: readonly number[];
  data: Float32Array | Int32Array;
}

/** Serialise tensors (F32 / I32) with optional string metadata; names are sorted, header padded to 8 bytes. */
export function writeSafetensors(tensors: Map<string, WritableTensor> | Record<string, WritableTensor>, metadata?: Record<string, string>): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors] : Object.entries(tensors)).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header['__metadata__'] = metadata;
  let off = 0;
  for (const [name, t] of entries) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) throw new ModelError('safetensors', `tensor '${name}' has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    header[name] = { dtype: t.data instanceof Int32Array ? 'I32' : 'F32', shape: [...t.shape], data_offsets: [off, off + 4 * numel] };
    off += 4 * numel;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  while ((enc.encode(json).byteLength) % 8 !== 0) json += ' ';
  const hb = enc.encode(json);
  const out = new Uint8Array(8 + hb.byteLength + off);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, hb.byteLength, true);
  dv.setUint32(4, 0, true);
  out.set(hb, 8);
  let p = 8 + hb.byteLength;
  for (const [, t] of entries) {
    const isInt = t.data instanceof Int32Array;
    for (let i = 0; i < t.data.length; i++, p += 4) {
      if (isInt) dv.setInt32(p, t.data[i]!, true);
      else dv.setFloat32(p, t.data[i]!, true);
    }
  }
  return out;
}
