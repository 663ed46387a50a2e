/**
 * Neighbour sets by explicit enumeration (lists of positions, no closed-form index arithmetic):
 * the ground truth the compiled masks are checked against, and the masked-dense reference.
 */
import { axisParams } from './mask.js';

/** Per query, the neighbour indices along one axis of length n (NA/GNA, non-causal). */
export function neighbours1d(n: number, K: number, dil = 1, stride = 1): number[][] {
  [n, K, dil, stride] = axisParams('1-D', n, K, dil, stride);
  const out: number[][] = [];
  for (let q = 0; q < n; q++) {
    const group: number[] = [];
    for (let p = q % dil; p < n; p += dil) group.push(p);
    const a = group.indexOf(q);
    // GNA: the stride group's middle member decides the window (clamped to the group).
    const c = Math.min(Math.floor(a / stride) * stride + Math.floor(stride / 2), group.length - 1);
    let start = c - Math.floor(K / 2);
    if (start + K > group.length) start = group.length - K;
    if (start < 0) start = 0;
    out.push(group.slice(start, start + K));
  }
  return out;
}

/** Causal NA: the K most recent same-group keys up to the query. */
export function neighbours1dCausal(n: number, K: number, dil = 1): number[][] {
  const out: number[][] = [];
  for (let q = 0; q < n; q++) {
    const ks: number[] = [];
    for (let p = q; p >= 0 && ks.length < K; p -= dil) ks.push(p);
    out.push(ks.reverse());
  }
  return out;
}

/** Dense 0/1 [n, n] from neighbour lists. */
export function denseFromNeighbours(lists: number[][]): Uint8Array {
  const n = lists.length;
  const m = new Uint8Array(n * n);
  lists.forEach((ks, q) => ks.forEach((k) => (m[q * n + k] = 1)));
  return m;
}

/** Dense 0/1 [H*W, H*W] of 2-D NA: the product of the per-axis neighbour sets. */
export function naive2d(height: number, width: number, K: [number, number], dil: [number, number] = [1, 1], stride: [number, number] = [1, 1]): Uint8Array {
  const ny = neighbours1d(height, K[0], dil[0], stride[0]);
  const nx = neighbours1d(width, K[1], dil[1], stride[1]);
  const N = height * width;
  const m = new Uint8Array(N * N);
  for (let qy = 0; qy < height; qy++) for (let qx = 0; qx < width; qx++) {
    for (const ky of ny[qy]!) for (const kx of nx[qx]!) m[(qy * width + qx) * N + ky * width + kx] = 1;
  }
  return m;
}
