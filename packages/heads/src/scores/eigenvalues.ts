/**
 * Eigenvalues of a small real square matrix in float64 (the copying score's d_head x d_head OV
 * product): Householder reduction to upper Hessenberg form, then Francis double-shift QR
 * iterations on the active block until it splits into 1x1 and 2x2 blocks. Only eigenvalues are
 * needed, so each reflector is applied inside the active block alone.
 */
import { HeadsError } from '../errors.js';

export interface Eigenvalues {
  re: Float64Array;
  im: Float64Array;
}

/** Applies the reflector I - 2 v v^T / (v^T v) on rows `idx` (left) for columns c0..c1. */
function reflectLeft(A: Float64Array[], idx: readonly number[], v: readonly number[], vv: number, c0: number, c1: number): void {
  for (let j = c0; j <= c1; j++) {
    let s = 0;
    for (let i = 0; i < idx.length; i++) s += v[i]! * A[idx[i]!]![j]!;
    s = (2 * s) / vv;
    for (let i = 0; i < idx.length; i++) A[idx[i]!]![j]! -= s * v[i]!;
  }
}

/** Applies the same reflector on columns `idx` (right) for rows r0..r1. */
function reflectRight(A: Float64Array[], idx: readonly number[], v: readonly number[], vv: number, r0: number, r1: number): void {
  for (let i = r0; i <= r1; i++) {
    const row = A[i]!;
    let s = 0;
    for (let j = 0; j < idx.length; j++) s += v[j]! * row[idx[j]!]!;
    s = (2 * s) / vv;
    for (let j = 0; j < idx.length; j++) row[idx[j]!]! -= s * v[j]!;
  }
}

/** v with (I - 2vv^T/v^Tv) x = alpha e1, or null when x is already a multiple of e1. */
function householder(x: readonly number[]): { v: number[]; vv: number } | null {
  let tail = 0;
  for (let i = 1; i < x.length; i++) tail += x[i]! * x[i]!;
  if (tail === 0) return null;
  const norm = Math.sqrt(x[0]! * x[0]! + tail);
  const alpha = x[0]! >= 0 ? -norm : norm;
  const v = [...x];
  v[0] = x[0]! - alpha;
  return { v, vv: v[0]! * v[0]! + tail };
}

function toHessenberg(A: Float64Array[]): void {
  const n = A.length;
  for (let k = 0; k < n - 2; k++) {
    const x: number[] = [];
    const idx: number[] = [];
    for (let i = k + 1; i < n; i++) {
      x.push(A[i]![k]!);
      idx.push(i);
    }
    const h = householder(x);
    if (!h) continue;
    reflectLeft(A, idx, h.v, h.vv, k, n - 1);
    reflectRight(A, idx, h.v, h.vv, 0, n - 1);
    for (let i = k + 2; i < n; i++) A[i]![k] = 0;
  }
}

/** Eigenvalues of the n x n matrix `m` (row-major); throws if QR does not converge. */
export function eigenvalues(m: ArrayLike<number>, n: number): Eigenvalues {
  if (!Number.isInteger(n) || n < 1 || m.length !== n * n) throw new HeadsError('eigenvalues', `expected ${n} x ${n} = ${n * n} entries, got ${m.length}`);
  const A = Array.from({ length: n }, (_, i) => Float64Array.from({ length: n }, (_, j) => m[i * n + j]!));
  for (const row of A) for (const v of row) if (!Number.isFinite(v)) throw new HeadsError('eigenvalues', 'the matrix has a non-finite entry');
  toHessenberg(A);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  let norm = 0;
  for (const row of A) for (const v of row) norm = Math.max(norm, Math.abs(v));
  let hi = n - 1;
  let iter = 0;
  const eps = Number.EPSILON;
  while (hi >= 0) {
    // The lowest l such that A[l..hi] has no negligible subdiagonal.
    let l = hi;
    while (l > 0) {
      const s = Math.abs(A[l - 1]![l - 1]!) + Math.abs(A[l]![l]!);
      if (Math.abs(A[l]![l - 1]!) <= eps * (s === 0 ? norm : s)) {
        A[l]![l - 1] = 0;
        break;
      }
      l--;
    }
    if (l === hi) {
      re[hi] = A[hi]![hi]!;
      hi--;
      iter = 0;
      continue;
    }
    const a = A[hi - 1]![hi - 1]!, b = A[hi - 1]![hi]!, c = A[hi]![hi - 1]!, d = A[hi]![hi]!;
    if (l === hi - 1) {
      const p = (a - d) / 2;
      const disc = p * p + b * c;
      const mid = (a + d) / 2;
      if (disc >= 0) {
        // The root farther from mid first, the other from the product (no cancellation).
        const r = mid + (mid >= 0 ? 1 : -1) * Math.sqrt(disc);
        const det = a * d - b * c;
        re[hi - 1] = r;
        re[hi] = r !== 0 ? det / r : mid - Math.sqrt(disc);
      } else {
        re[hi - 1] = re[hi] = mid;
        im[hi - 1] = Math.sqrt(-disc);
        im[hi] = -Math.sqrt(-disc);
      }
      hi -= 2;
      iter = 0;
      continue;
    }
    if (++iter > 60) throw new HeadsError('eigenvalues', `QR iterations did not converge (block ${l}..${hi} of ${n})`);
    // Shifts: the trailing 2x2's eigenvalues (sum s, product t); an exceptional shift now and then breaks cycles.
    let s = a + d;
    let t = a * d - b * c;
    if (iter % 11 === 10) {
      const e = Math.abs(A[hi]![hi - 1]!) + Math.abs(A[hi - 1]![hi - 2]!);
      s = 1.5 * e + d;
      t = e * e;
    }
    let x = A[l]![l]! * A[l]![l]! + A[l]![l + 1]! * A[l + 1]![l]! - s * A[l]![l]! + t;
    let y = A[l + 1]![l]! * (A[l]![l]! + A[l + 1]![l + 1]! - s);
    let z = A[l + 2]![l + 1]! * A[l + 1]![l]!;
    for (let k = l; k <= hi - 2; k++) {
      const h = householder([x, y, z]);
      const idx = [k, k + 1, k + 2];
      if (h) {
        reflectLeft(A, idx, h.v, h.vv, Math.max(l, k - 1), hi);
        reflectRight(A, idx, h.v, h.vv, l, Math.min(k + 3, hi));
      }
      // The bulge moved down one column: what P_k annihilated is exactly 0.
      if (k > l) A[k + 1]![k - 1] = A[k + 2]![k - 1] = 0;
      x = A[k + 1]![k]!;
      y = A[k + 2]![k]!;
      z = k < hi - 2 ? A[k + 3]![k]! : 0;
    }
    const h = householder([x, y]);
    if (h) {
      const idx = [hi - 1, hi];
      reflectLeft(A, idx, h.v, h.vv, hi - 2, hi);
      reflectRight(A, idx, h.v, h.vv, l, hi);
    }
    A[hi]![hi - 2] = 0;
  }
  return { re, im };
}
