/**
 * Binary state (typed arrays) travels as comm buffers: `split` takes them out of a state object
 * and lists where they were (`buffer_paths`), `join` puts incoming buffers back.
 */
import type { JSONObject } from './context.js';

export type Path = (string | number)[];

export function split(state: JSONObject): { state: JSONObject; buffers: ArrayBufferView[]; paths: Path[] } {
  const buffers: ArrayBufferView[] = [];
  const paths: Path[] = [];
  const walk = (v: unknown, path: Path): unknown => {
    if (ArrayBuffer.isView(v)) {
      buffers.push(v);
      paths.push(path);
      return null;
    }
    if (v instanceof ArrayBuffer) {
      buffers.push(new Uint8Array(v));
      paths.push(path);
      return null;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...path, k])]));
    return v;
  };
  return { state: walk(state, []) as JSONObject, buffers, paths };
}

export function join(state: JSONObject, paths: unknown, buffers: DataView[]): JSONObject {
  if (paths === undefined) return state;
  if (!Array.isArray(paths)) throw new TypeError('widget update: buffer_paths must be an array');
  if (paths.length !== buffers.length) throw new RangeError(`widget update: ${paths.length} buffer_paths for ${buffers.length} buffers`);
  paths.forEach((p, i) => {
    if (!Array.isArray(p) || p.length === 0) throw new TypeError(`widget update: buffer_paths[${i}] is not a path`);
    let obj = state as Record<string | number, unknown>;
    for (const key of p.slice(0, -1)) {
      const next = obj[key as string];
      if (typeof next !== 'object' || next === null) throw new TypeError(`widget update: buffer path ${JSON.stringify(p)} does not exist in the state`);
      obj = next as Record<string | number, unknown>;
    }
    obj[p[p.length - 1] as string] = buffers[i];
  });
  return state;
}
