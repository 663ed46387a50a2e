/**
 * A float32 array in widget state, both ways. The widget manager saves the notebook's widget
 * state by serializing each attribute: without a serializer a Float32Array went through
 * JSON.stringify and was saved as an object with one numeric key per value, no buffer, and
 * could not be read back. As a DataView it is taken out as a buffer (base64 in the saved
 * `buffers: [{path, encoding: 'base64', data}]`, binary on the comm), as the protocol intends.
 */

/** The values as a DataView over exactly their bytes (what the manager turns into a buffer). */
export function serializeFloat32(v: unknown): DataView {
  const a = deserializeFloat32(v);
  // The manager saves a view's whole underlying buffer: give it one holding just these bytes.
  const own = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice();
  return new DataView(own.buffer, 0, own.byteLength);
}

/**
 * Float32Array from what state can hold: a DataView or ArrayBuffer (comm and saved buffers), a
 * typed array, a plain array, or the numeric-keyed object older saved notebooks hold.
 */
export function deserializeFloat32(v: unknown): Float32Array {
  if (v instanceof Float32Array) return v;
  if (v instanceof DataView) {
    if (v.byteLength % 4 !== 0) throw new RangeError(`float32 state: a buffer of ${v.byteLength} bytes is not a whole number of float32 values`);
    return new Float32Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  }
  if (v instanceof ArrayBuffer) return deserializeFloat32(new DataView(v));
  if (ArrayBuffer.isView(v)) return Float32Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return Float32Array.from(v, Number);
  if (v === null || v === undefined) return new Float32Array(0);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const n = Object.keys(o).length;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (!(String(i) in o)) throw new TypeError(`float32 state: saved object has ${n} keys but no key "${i}"`);
      out[i] = Number(o[String(i)]);
    }
    return out;
  }
  throw new TypeError(`float32 state: cannot read a ${typeof v}`);
}
