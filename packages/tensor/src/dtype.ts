/** Element types a tensor can hold. float32 for values, int32 for indices and tokens. */
export type DType = 'float32' | 'int32';
export type TypedArrayFor<D extends DType> = D extends 'int32' ? Int32Array : Float32Array;
export type AnyTypedArray = Float32Array | Int32Array;

export function arrayFor(dtype: DType, size: number): AnyTypedArray {
  return dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
}

export function bytesPerElement(_dtype: DType): number {
  return 4;
}
