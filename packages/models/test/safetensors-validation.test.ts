import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelError, readSafetensors, writeSafetensors } from '../src/index.js';

/** A file with the given header text (no padding added) and data bytes; the length prefix may lie. */
function file(header: string, data: Uint8Array, headerLen?: number): Uint8Array {
  const hb = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + hb.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen ?? hb.length), true);
  out.set(hb, 8);
  out.set(data, 8 + hb.length);
  return out;
}

function rejects(bytes: Uint8Array, re: RegExp): void {
  assert.throws(() => readSafetensors(bytes), (e: unknown) => {
    assert.ok(e instanceof ModelError, `expected a ModelError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

const W = Float32Array.from([1, 2, 3, 4]);
const V = Float32Array.from([-1, -2]);
const data = (...arrs: Float32Array[]): Uint8Array => {
  const out = new Uint8Array(arrs.reduce((n, a) => n + a.byteLength, 0));
  let at = 0;
  for (const a of arrs) {
    out.set(new Uint8Array(a.buffer), at);
    at += a.byteLength;
  }
  return out;
};

test('safetensors: a header length one byte short is an error, not weights read one byte early', () => {
  const ok = writeSafetensors({ w: { shape: [4], data: W } });
  const n = Number(new DataView(ok.buffer).getBigUint64(0, true));
  assert.equal(ok[8 + n - 1], 0x20, 'the writer pads the header with spaces, so a shorter length still parses as JSON');
  const short = ok.slice();
  new DataView(short.buffer).setBigUint64(0, BigInt(n - 1), true);
  rejects(short, /1 bytes after the last tensor's data .* a wrong header length or trailing bytes/);
  // One byte long: the first data byte joins the header (invalid JSON here) or the data is one byte short.
  const long = ok.slice();
  new DataView(long.buffer).setBigUint64(0, BigInt(n + 1), true);
  rejects(long, /header is not valid UTF-8 JSON|runs past the end/);
});

test('safetensors: trailing bytes, gaps and overlaps are errors; the data section is covered exactly', () => {
  const ok = writeSafetensors({ w: { shape: [4], data: W } });
  const trailing = new Uint8Array(ok.length + 3);
  trailing.set(ok);
  rejects(trailing, /3 bytes after the last tensor's data \(the data section is 19 bytes, the tensors cover 16\)/);
  const gap = file(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] } }), new Uint8Array(20));
  rejects(gap, /4 unused bytes before tensor 'b' \(data bytes \[8, 12\) belong to no tensor\)/);
  const lead = file(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), new Uint8Array(12));
  rejects(lead, /4 unused bytes before tensor 'a'/);
  const overlap = file(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }), new Uint8Array(8));
  rejects(overlap, /overlap/);
  // Out-of-name-order offsets are fine (the reference sorts by offset), and so are empty tensors.
  const shuffled = readSafetensors(file(JSON.stringify({
    z: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
    e: { dtype: 'F32', shape: [0, 3], data_offsets: [16, 16] },
    a: { dtype: 'F32', shape: [2], data_offsets: [16, 24] },
  }), data(W, V)));
  assert.deepEqual([...shuffled.tensors.get('z')!.data], [1, 2, 3, 4]);
  assert.deepEqual([...shuffled.tensors.get('a')!.data], [-1, -2]);
  assert.deepEqual(shuffled.tensors.get('e')!.shape, [0, 3]);
  // An empty file: no tensors, no data.
  assert.equal(readSafetensors(file('{}', new Uint8Array(0))).tensors.size, 0);
  rejects(file('{}', new Uint8Array(1)), /1 bytes after the last tensor's data/);
});

test('safetensors: the header is one JSON object with unique names and a string -> string __metadata__', () => {
  const d = data(W);
  const entry = '{"dtype":"F32","shape":[4],"data_offsets":[0,16]}';
  rejects(file(`{"w":${entry},"w":${entry}}`, d), /repeated key "w"/);
  rejects(file(`  {"w":${entry}}`, d), /header must be a JSON object starting with '\{'/);
  rejects(file(`{"w":${entry}} x`, d), /unexpected text after the JSON value/);
  rejects(file('null', new Uint8Array(0)), /must be a JSON object/);
  rejects(file(`{"__metadata__":{"format":1},"w":${entry}}`, d), /__metadata__ must map strings to strings; 'format' is number 1/);
  rejects(file(`{"__metadata__":["pt"],"w":${entry}}`, d), /__metadata__ must be an object/);
  rejects(file(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16.0000001]}}`, d), /invalid data_offsets/);
  rejects(file(`{"w":{"dtype":"F32","shape":[4],"data_offsets":["0",16]}}`, d), /invalid data_offsets/);
  rejects(file(`{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[16,0]}}`, d), /invalid data_offsets/);
  rejects(file(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"v":5}`, d), /entry 'v' is not an object/);
  rejects(file(`{"w":{"dtype":"toString","shape":[4],"data_offsets":[0,16]}}`, d), /dtype 'toString', which attnlab cannot read/);
  rejects(file(`{"w":{"dtype":"F32","shape":[9007199254740993, 2],"data_offsets":[0,16]}}`, d), /invalid shape/);
  rejects(file(`{"w":{"dtype":"F32","shape":[4294967296, 4294967296],"data_offsets":[0,16]}}`, d), /is too large/);
  rejects(file('[' .repeat(100000) + ']'.repeat(100000), new Uint8Array(0)), /header must be a JSON object starting/);
  rejects(file('{"a":' + '['.repeat(100000) + ']'.repeat(100000) + '}', new Uint8Array(0)), /nesting deeper than 64/);
  // A __proto__ key is plain data, and metadata keeps it as its own entry.
  const f = readSafetensors(file(`{"__metadata__":{"__proto__":"x","format":"pt"},"__proto__":${entry}}`, d));
  assert.deepEqual([...f.tensors.get('__proto__')!.data], [1, 2, 3, 4]);
  assert.equal(Object.getOwnPropertyDescriptor(f.metadata, '__proto__')?.value, 'x');
  assert.equal(f.metadata['format'], 'pt');
  // Not bytes at all.
  assert.throws(() => readSafetensors('abc' as unknown as Uint8Array), /expected the file's bytes as a Uint8Array, got string "abc"/);
});
