/**
 * Masks as boolean matrices: stacking attention layers composes them as boolean products, so the
 * positions a token sees after d layers (its receptive field) are the row of M^d. The CPU path is
 * exact bit-parallel arithmetic (32 keys per word); reachabilityOnDevice runs the same products as
 * float32 matmuls on a tensor device (exact: every sum is an integer <= n < 2^24) and thresholds.
 */
import { greater, matmul, tensor, type Device, type Tensor } from '@attnlab/tensor';

function check(op: string, m: Uint8Array, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${op}: n must be a positive integer, got ${n}`);
  if (m.length !== n * n) throw new RangeError(`${op}: matrix has ${m.length} entries, expected ${n} x ${n}`);
}

/** Rows of a 0/1 [n, n] matrix as bitsets: [n, ceil(n/32)] words. */
function toBits(m: Uint8Array, n: number): Uint32Array {
  const W = Math.ceil(n / 32);
  const bits = new Uint32Array(n * W);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (m[i * n + j]) bits[i * W + (j >> 5)]! |= 1 << (j & 31);
  return bits;
}

function fromBits(bits: Uint32Array, n: number): Uint8Array {
  const W = Math.ceil(n / 32);
  const m = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] = (bits[i * W + (j >> 5)]! >>> (j & 31)) & 1;
  return m;
}

/** Boolean product C = A·B (C[i,j] = OR_k A[i,k] AND B[k,j]), exact, bit-parallel. */
export function boolMatmul(a: Uint8Array, b: Uint8Array, n: number): Uint8Array {
  check('boolMatmul', a, n);
  check('boolMatmul', b, n);
  return fromBits(bitsProduct(a, toBits(b, n), n), n);
}

function bitsProduct(a: Uint8Array, bBits: Uint32Array, n: number): Uint32Array {
  const W = Math.ceil(n / 32);
  const c = new Uint32Array(n * W);
  for (let i = 0; i < n; i++) {
    const ci = i * W;
    for (let k = 0; k < n; k++) {
      if (!a[i * n + k]) continue;
      const bk = k * W;
      for (let w = 0; w < W; w++) c[ci + w]! |= bBits[bk + w]!;
    }
  }
  return c;
}

/** Receptive fields after 1..layers stacked layers of mask m: [M, M², ..., M^layers]. */
export function reachability(m: Uint8Array, n: number, layers: number): Uint8Array[] {
  check('reachability', m, n);
  if (!Number.isInteger(layers) || layers < 1) throw new RangeError(`reachability: layers must be a positive integer, got ${layers}`);
  const mBits = toBits(m, n);
  const out: Uint8Array[] = [m.slice()];
  for (let d = 2; d <= layers; d++) out.push(fromBits(bitsProduct(out[d - 2]!, mBits, n), n));
  return out;
}

/** M^layers on a tensor device (float32 matmuls, thresholded each layer). */
export async function reachabilityOnDevice(m: Uint8Array, n: number, layers: number, device: Device): Promise<Uint8Array> {
  check('reachabilityOnDevice', m, n);
  if (!Number.isInteger(layers) || layers < 1) throw new RangeError(`reachabilityOnDevice: layers must be a positive integer, got ${layers}`);
  if (n >= 1 << 24) throw new RangeError(`reachabilityOnDevice: n = ${n} is too large for exact float32 counts`);
  const M = tensor(Float32Array.from(m), [n, n], { device });
  let R: Tensor = M;
  for (let d = 2; d <= layers; d++) {
    const p = matmul(R, M);
    const next = greater(p, 0.5);
    p.dispose();
    if (R !== M) R.dispose();
    R = next;
  }
  const data = await R.data();
  if (R !== M) R.dispose();
  M.dispose();
  return Uint8Array.from(data as ArrayLike<number>, (x) => (x > 0.5 ? 1 : 0));
}

/** Naive triple-loop boolean product (the test's ground truth). */
export function boolMatmulNaive(a: Uint8Array, b: Uint8Array, n: number): Uint8Array {
  const c = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let v = 0;
    for (let k = 0; k < n && !v; k++) v = a[i * n + k]! & b[k * n + j]!;
    c[i * n + j] = v;
  }
  return c;
}

export interface ReceptiveField {
  /** Keys reachable from the query row. */
  count: number;
  /** Length of the gap-free run of reachable keys ending at the query itself. */
  contiguous: number;
  /** Unreachable keys between the earliest reachable key and the query. */
  gaps: number;
}

/** The receptive field of query row q of a reachability matrix (causal: keys <= q). */
export function receptiveField(r: Uint8Array, n: number, q: number): ReceptiveField {
  check('receptiveField', r, n);
  if (!Number.isInteger(q) || q < 0 || q >= n) throw new RangeError(`receptiveField: row ${q} outside 0..${n - 1}`);
  let count = 0;
  let first = -1;
  for (let j = 0; j < n; j++) if (r[q * n + j]) {
    count++;
    if (first < 0) first = j;
  }
  let contiguous = 0;
  for (let j = q; j >= 0 && r[q * n + j]; j--) contiguous++;
  let gaps = 0;
  if (first >= 0) for (let j = first; j <= q; j++) if (!r[q * n + j]) gaps++;
  return { count, contiguous, gaps };
}
