import assert from 'node:assert/strict';
import { test } from 'node:test';
// The widget manager's own base64 helpers (what it writes into and reads from saved widget state).
import { base64ToBuffer, bufferToBase64 } from '@jupyter-widgets/base-manager/lib/utils.js';
import { deserializeFloat32, serializeFloat32 } from '../src/binary-state.js';

const values = Float32Array.from({ length: 7056 }, (_, i) => Math.sin(i) / 3);

/** What @jupyter-widgets saves for an attribute: a buffer if the serializer gave a view, else a JSON deep copy. */
function saveAttribute(serialized: unknown): { json?: unknown; buffer?: { path: string[]; encoding: 'base64'; data: string } } {
  if (ArrayBuffer.isView(serialized)) return { buffer: { path: ['patterns'], encoding: 'base64', data: bufferToBase64(serialized.buffer as ArrayBuffer) } };
  return { json: JSON.parse(JSON.stringify(serialized)) };
}

test('patterns are saved as a base64 buffer and restored exactly (regression: saved as 7,056 numeric keys, no buffers)', () => {
  const saved = saveAttribute(serializeFloat32(values));
  assert.ok(saved.buffer, 'the patterns become a buffer in the saved widget state');
  assert.equal(saved.json, undefined);
  // Loading: the manager decodes the base64 into an ArrayBuffer and hands a DataView to deserialize.
  const restored = deserializeFloat32(new DataView(base64ToBuffer(saved.buffer.data)));
  assert.deepEqual(restored, values);
  // Before the fix there was no serializer: the manager's default (a JSON deep copy) made an
  // object of numeric keys, saved as JSON with no buffer.
  const before = saveAttribute(JSON.parse(JSON.stringify(values)));
  assert.equal(before.buffer, undefined);
  assert.equal(Object.keys(before.json as object).length, 7056);
});

test('a view into a larger buffer saves only its own bytes', () => {
  const big = new Float32Array(100).map((_, i) => i);
  const part = big.subarray(10, 20);
  const view = serializeFloat32(part);
  assert.equal(view.buffer.byteLength, 40);
  assert.deepEqual([...deserializeFloat32(view)], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
});

test('notebooks saved before the fix (numeric-keyed object) and plain arrays still load; bad input is named', () => {
  const legacy = JSON.parse(JSON.stringify(Float32Array.from([0.5, 0.25, 1])));
  assert.deepEqual([...deserializeFloat32(legacy)], [0.5, 0.25, 1]);
  assert.deepEqual([...deserializeFloat32([1, 2])], [1, 2]);
  assert.equal(deserializeFloat32(undefined).length, 0);
  assert.throws(() => deserializeFloat32(new DataView(new ArrayBuffer(6))), /6 bytes is not a whole number of float32/);
  assert.throws(() => deserializeFloat32({ 0: 1, 2: 3 }), /no key "1"/);
});
