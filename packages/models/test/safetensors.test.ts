import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_HEADER_BYTES, ModelError, readSafetensors, writeSafetensors } from '../src/index.js';

function file(header: unknown, data: Uint8Array, headerLenOverride?: number): Uint8Array {
  const hb = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + hb.length + data.length);
  const dv = new DataView(out.buffer);
  const n = headerLenOverride ?? hb.length;
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(hb, 8);
  out.set(data, 8 + hb.length);
  return out;
}

test('safetensors round trip (F32, I32, metadata, 8-byte aligned header)', () => {
  const a = Float32Array.from([1.5, -2, 3.25, 0, 1e-30, -7]);
  const b = Int32Array.from([1, -2, 2147483647]);
  const bytes = writeSafetensors({ 'h.0.attn.c_attn.weight': { shape: [2, 3], data: a }, ids: { shape: [3], data: b }, empty: { shape: [0, 4], data: new Float32Array(0) } }, { format: 'pt' });
  const hl = new DataView(bytes.buffer).getUint32(0, true);
  assert.equal((8 + hl) % 8, 0);
  const f = readSafetensors(bytes);
  assert.deepEqual(f.metadata, { format: 'pt' });
  assert.deepEqual(f.tensors.get('h.0.attn.c_attn.weight'), { dtype: 'F32', shape: [2, 3], data: a });
  assert.deepEqual(f.tensors.get('ids'), { dtype: 'I32', shape: [3], data: b });
  assert.deepEqual(f.tensors.get('empty')!.shape, [0, 4]);
});

test('safetensors reads F16, BF16, F64 and I64 into float32/int32', () => {
  const data = new Uint8Array(2 * 2 + 2 * 2 + 8 + 8);
  const dv = new DataView(data.buffer);
  dv.setUint16(0, 0x3c00, true); // 1.0
  dv.setUint16(2, 0xc000, true); // -2.0
  dv.setUint16(4, 0x3fc0, true); // bf16 1.5
  dv.setUint16(6, 0xc040, true); // bf16 -3
  dv.setFloat64(8, 0.1, true);
  dv.setBigInt64(16, -5n, true);
  const f = readSafetensors(file({
    h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
    bf: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] },
    d: { dtype: 'F64', shape: [1], data_offsets: [8, 16] },
    i: { dtype: 'I64', shape: [1], data_offsets: [16, 24] },
  }, data));
  assert.deepEqual([...f.tensors.get('h')!.data], [1, -2]);
  assert.deepEqual([...f.tensors.get('bf')!.data], [1.5, -3]);
  assert.ok(Math.abs(f.tensors.get('d')!.data[0]! - 0.1) < 1e-7);
  assert.deepEqual([...f.tensors.get('i')!.data], [-5]);
});

test('safetensors malformed files give clear errors', () => {
  const ok = writeSafetensors({ w: { shape: [4], data: new Float32Array(4) } });
  const bad = (bytes: Uint8Array, re: RegExp): void => {
    assert.throws(() => readSafetensors(bytes), (e: Error) => e instanceof ModelError && re.test(e.message), re.source);
  };
  bad(ok.subarray(0, 5), /truncated: 5 bytes, the 8-byte header length is missing/);
  bad(ok.subarray(0, 20), /truncated: the header says \d+ bytes but only 12 follow/);
  bad(file({}, new Uint8Array(0), MAX_HEADER_BYTES + 1), /header length 100000001 bytes is over the 100000000-byte limit/);
  bad(file({}, new Uint8Array(0), 2 ** 40), /over the .* limit/);
  bad(file('{"w": {"dtype": "F32", ', new Uint8Array(16)), /header is not valid UTF-8 JSON/);
  bad(file('[1,2]', new Uint8Array(0)), /header must be a JSON object/);
  bad(file({ w: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /dtype 'C64', which attnlab cannot read/);
  bad(file({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(12)), /'w' runs past the end of the file: bytes \[0, 16\) of a 12-byte data section/);
  bad(file({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 12] } }, new Uint8Array(16)), /needs 16 bytes but data_offsets span 12/);
  bad(file({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /invalid shape/);
  bad(file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)), /overlap/);
  // The ok file reads, and cutting off its last bytes is caught.
  assert.equal(readSafetensors(ok).tensors.size, 1);
  bad(ok.subarray(0, ok.length - 1), /runs past the end/);
});
