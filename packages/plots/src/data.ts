/**
 * Inputs the builders accept: nested arrays, flat typed arrays with a shape, or a tensor
 * (anything with `shape` and an async `data()`, as @attnlab/tensor's Tensor), read back first.
 */
export type Matrix = readonly (readonly number[])[] | { data: ArrayLike<number>; shape: readonly number[] };
export type Cube = readonly (readonly (readonly number[])[])[] | { data: ArrayLike<number>; shape: readonly number[] };

export interface TensorLike {
  readonly shape: readonly number[];
  data(): Promise<ArrayLike<number>>;
}

export function isTensorLike(v: unknown): v is TensorLike {
  return typeof v === 'object' && v !== null && Array.isArray((v as TensorLike).shape) && typeof (v as TensorLike).data === 'function';
}

export async function readTensor(t: TensorLike): Promise<{ data: ArrayLike<number>; shape: readonly number[] }> {
  return { data: await t.data(), shape: t.shape };
}

/** Rows of a matrix; `who` names the builder in errors. */
export function toRows(m: Matrix, who: string): number[][] {
  if (Array.isArray(m)) {
    const rows = m as readonly (readonly number[])[];
    if (rows.length === 0) throw new RangeError(`${who}: the matrix is empty`);
    rows.forEach((r, i) => {
      if (!Array.isArray(r)) throw new TypeError(`${who}: row ${i} is not an array`);
      if (r.length !== rows[0]!.length) throw new RangeError(`${who}: ragged matrix: row ${i} has ${r.length} values, row 0 has ${rows[0]!.length}`);
    });
    return rows.map((r) => r.map(Number));
  }
  const { data, shape } = m as { data: ArrayLike<number>; shape: readonly number[] };
  const dims = shape.filter((d, i) => !(d === 1 && i < shape.length - 2));
  if (dims.length !== 2) throw new RangeError(`${who}: expected a 2-D matrix, got shape [${shape.join(', ')}]`);
  const [r, c] = dims as [number, number];
  if (data.length !== r * c) throw new RangeError(`${who}: shape [${shape.join(', ')}] needs ${r * c} values, got ${data.length}`);
  return Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => data[i * c + j]!));
}

/** [H][Nq][Nk] from nested arrays or flat data with shape [H, Nq, Nk] (or [1, H, Nq, Nk]). */
export function toCube(m: Cube, who: string): number[][][] {
  if (Array.isArray(m)) return (m as readonly Matrix[]).map((x, h) => toRows(x, `${who} (head ${h})`));
  const { data, shape } = m as { data: ArrayLike<number>; shape: readonly number[] };
  const s = shape.length === 4 && shape[0] === 1 ? shape.slice(1) : shape;
  if (s.length !== 3) throw new RangeError(`${who}: expected probabilities of shape [H, Nq, Nk] (or [1, H, Nq, Nk]), got [${shape.join(', ')}]`);
  const [H, Nq, Nk] = s as [number, number, number];
  if (data.length !== H * Nq * Nk) throw new RangeError(`${who}: shape [${shape.join(', ')}] needs ${H * Nq * Nk} values, got ${data.length}`);
  return Array.from({ length: H }, (_, h) => Array.from({ length: Nq }, (_, q) => Array.from({ length: Nk }, (_, k) => data[(h * Nq + q) * Nk + k]!)));
}
