import type { Storage } from '../backend.js';
import { arrayFor, type AnyTypedArray, type DType } from '../dtype.js';
import { getDefaultDevice, type Device } from '../device.js';
import { TensorError, fmtShape } from '../errors.js';
import { checkShape, sizeOf, type Shape } from '../shape.js';
import { Tensor, type NestedArray } from '../tensor.js';

export interface CreateOptions {
  device?: Device;
  dtype?: DType;
  requiresGrad?: boolean;
  name?: string;
}

/** Wrap a storage the device just produced. */
export function fromStorage(device: Device, s: Storage, shape: Shape, dtype: DType = s.dtype): Tensor {
  return new Tensor(device, s, shape, dtype);
}

/** Deeper nesting than any real tensor: refuses cyclic or runaway arrays before the stack does. */
const MAX_RANK = 64;

function flatten(data: NestedArray, out: number[], shape: number[], depth: number, at: number[] = []): void {
  if (typeof data !== 'number' && !Array.isArray(data)) {
    const what = data === null ? 'null' : typeof data === 'string' ? `the string ${JSON.stringify(data)}` : typeof data;
    throw new TensorError('tensor', `data${at.map((i) => `[${i}]`).join('')} is ${what}; values must be numbers`);
  }
  if (depth > MAX_RANK) throw new TensorError('tensor', `data is nested more than ${MAX_RANK} deep`);
  if (typeof data === 'number') {
    if (depth !== shape.length && shape.length > 0) throw new TensorError('tensor', 'ragged nested array');
    out.push(data);
    return;
  }
  if (depth === shape.length) shape.push(data.length);
  else if (shape[depth] !== data.length) throw new TensorError('tensor', `ragged nested array at depth ${depth}: ${data.length} vs ${shape[depth]}`);
  data.forEach((d, i) => flatten(d, out, shape, depth + 1, [...at, i]));
}

/**
 * A tensor from values: a typed array or flat number array with a shape, or nested arrays
 * (shape inferred). Int32Array data gives int32 unless `dtype` says otherwise.
 */
export function tensor(data: AnyTypedArray | readonly number[] | NestedArray, shape?: Shape, options: CreateOptions = {}): Tensor {
  const device = options.device ?? getDefaultDevice();
  let values: AnyTypedArray | readonly number[];
  let sh: number[];
  if (data instanceof Float32Array || data instanceof Int32Array) {
    values = data;
    sh = shape ? [...shape] : [data.length];
  } else if (typeof data === 'number') {
    values = [data];
    sh = shape ? [...shape] : [];
  } else if (shape) {
    const flat: number[] = [];
    flatten(data as NestedArray, flat, [], 0);
    values = flat;
    sh = [...shape];
  } else {
    const flat: number[] = [];
    const inferred: number[] = [];
    flatten(data as NestedArray, flat, inferred, 0);
    values = flat;
    sh = inferred;
  }
  checkShape('tensor', sh);
  if (sizeOf(sh) !== values.length) {
    throw new TensorError('tensor', `${values.length} values do not fill shape ${fmtShape(sh)} (${sizeOf(sh)} elements)`);
  }
  const dtype: DType = options.dtype ?? (data instanceof Int32Array ? 'int32' : 'float32');
  let arr: AnyTypedArray;
  if ((dtype === 'int32' && values instanceof Int32Array) || (dtype === 'float32' && values instanceof Float32Array)) arr = values;
  else {
    arr = arrayFor(dtype, values.length);
    for (let i = 0; i < values.length; i++) arr[i] = values[i]!;
  }
  const t = new Tensor(device, device.backend.upload(arr), sh, dtype);
  if (options.name) t.name = options.name;
  if (options.requiresGrad) t.requireGrad();
  return t;
}

export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  checkShape('full', shape);
  const device = options.device ?? getDefaultDevice();
  const dtype = options.dtype ?? 'float32';
  const t = new Tensor(device, device.backend.fill(dtype, sizeOf(shape), value), shape, dtype);
  if (options.name) t.name = options.name;
  if (options.requiresGrad) t.requireGrad();
  return t;
}

export function zeros(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function zerosLike(t: Tensor): Tensor {
  return full(t.shape, 0, { device: t.device, dtype: t.dtype });
}

export function onesLike(t: Tensor): Tensor {
  return full(t.shape, 1, { device: t.device, dtype: t.dtype });
}

/** [start, end) with a step, as float32 unless dtype says int32. */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  for (const [name, v] of [['start', start], ['end', end], ['step', step]] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new TensorError('arange', `${name} must be a finite number, got ${String(v)}`);
  }
  if (step === 0) throw new TensorError('arange', 'step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  if (n > 2 ** 31 - 1) throw new TensorError('arange', `[${start}, ${end}) in steps of ${step} has ${n} elements, more than a tensor holds`);
  const a = arrayFor(options.dtype ?? 'float32', n);
  for (let i = 0; i < n; i++) a[i] = start + i * step;
  return tensor(a, [n], options);
}

/** A copy on the same device (no autograd link; use `add(x, 0)`-style ops for that). */
export function clone(t: Tensor): Tensor {
  const s = t.storage('clone');
  return fromStorage(t.device, t.device.backend.strided(s, [s.size], [1], 0), t.shape, t.dtype);
}

/** Copy a tensor to another device (reads back through the host). */
export async function toDevice(t: Tensor, device: Device): Promise<Tensor> {
  if (t.device === device) return t;
  const data = await t.data();
  return tensor(data, t.shape, { device, dtype: t.dtype });
}
