import type { Storage } from '../backend.js';
import type { AnyTypedArray, DType } from '../dtype.js';

/** CPU storage: the typed array itself, plus the Storage fields. */
export class CpuStorage implements Storage {
  constructor(readonly data: AnyTypedArray) {}
  get size(): number {
    return this.data.length;
  }
  get dtype(): DType {
    return this.data instanceof Int32Array ? 'int32' : 'float32';
  }
}

export function cpuData(s: Storage): AnyTypedArray {
  return (s as CpuStorage).data;
}
