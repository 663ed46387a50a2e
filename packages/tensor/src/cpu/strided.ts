/**
 * Strided iteration for the CPU kernels without a division per element: dims that are
 * contiguous for every operand are merged (and size-1 dims dropped), then the outer dims are
 * walked with an odometer while the innermost dim runs as a plain strided loop.
 */

export interface Collapsed {
  /** Collapsed shape (at least one dim). */
  shape: number[];
  /** Per operand, its element stride per collapsed dim. */
  strides: number[][];
}

/** Merge adjacent dims i, i+1 when every operand has strides[i] === strides[i+1] * shape[i+1]. */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): Collapsed {
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, o) => st[o]![last] === s[d]! * n)) {
      dims[last] = dims[last]! * n;
      strides.forEach((s, o) => (st[o]![last] = s[d]!));
      continue;
    }
    dims.push(n);
    strides.forEach((s, o) => st[o]!.push(s[d]!));
  }
  if (dims.length === 0) {
    dims.push(1);
    st.forEach((s) => s.push(0));
  }
  return { shape: dims, strides: st };
}

/**
 * Calls `inner(outIndex, offsets, len)` for each run of the innermost collapsed dim, where
 * `offsets[o]` is operand o's element offset at the start of the run; the output is contiguous.
 */
export function forEachRun(c: Collapsed, base: readonly number[], inner: (outIndex: number, offsets: Int32Array | number[], len: number) => void): void {
  const nd = c.shape.length;
  const len = c.shape[nd - 1]!;
  const ops = c.strides.length;
  const off = base.slice();
  if (nd === 1) {
    inner(0, off, len);
    return;
  }
  const count = new Array<number>(nd - 1).fill(0);
  let outer = 1;
  for (let d = 0; d < nd - 1; d++) outer *= c.shape[d]!;
  for (let r = 0; r < outer; r++) {
    inner(r * len, off, len);
    // Advance the odometer over dims nd-2 .. 0.
    for (let d = nd - 2; d >= 0; d--) {
      count[d]!++;
      for (let o = 0; o < ops; o++) off[o]! += c.strides[o]![d]!;
      if (count[d]! < c.shape[d]!) break;
      count[d] = 0;
      for (let o = 0; o < ops; o++) off[o]! -= c.strides[o]![d]! * c.shape[d]!;
    }
  }
}
