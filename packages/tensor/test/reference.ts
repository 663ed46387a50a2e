/**
 * An independent float64 reference for every tensor op, written for clarity, not speed.
 * Tests compare both devices against it and use it for finite-difference gradients.
 */
export interface F64 {
  d: Float64Array;
  s: number[];
}

export const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

export function f64(d: ArrayLike<number>, s: readonly number[]): F64 {
  return { d: Float64Array.from(d), s: [...s] };
}

function unravel(i: number, s: readonly number[]): number[] {
  const idx = new Array<number>(s.length);
  for (let k = s.length - 1; k >= 0; k--) {
    idx[k] = i % s[k]!;
    i = Math.floor(i / s[k]!);
  }
  return idx;
}

function ravel(idx: readonly number[], s: readonly number[]): number {
  let o = 0;
  for (let k = 0; k < s.length; k++) o = o * s[k]! + idx[k]!;
  return o;
}

export function bshape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error('ref broadcast');
    out.push(Math.max(x, y) === 1 ? 1 : x === 1 ? y : x);
  }
  return out;
}

function at(x: F64, outIdx: readonly number[]): number {
  const off = outIdx.length - x.s.length;
  const idx = x.s.map((d, k) => (d === 1 ? 0 : outIdx[k + off]!));
  return x.d[ravel(idx, x.s)]!;
}

export function map(x: F64, f: (v: number) => number): F64 {
  return { d: x.d.map(f), s: [...x.s] };
}

export function zip(a: F64, b: F64, f: (x: number, y: number) => number): F64 {
  const s = bshape(a.s, b.s);
  const d = new Float64Array(size(s));
  for (let i = 0; i < d.length; i++) {
    const idx = unravel(i, s);
    d[i] = f(at(a, idx), at(b, idx));
  }
  return { d, s };
}

export function where3(c: F64, a: F64, b: F64): F64 {
  const s = bshape(bshape(c.s, a.s), b.s);
  const d = new Float64Array(size(s));
  for (let i = 0; i < d.length; i++) {
    const idx = unravel(i, s);
    d[i] = at(c, idx) !== 0 ? at(a, idx) : at(b, idx);
  }
  return { d, s };
}

/** Reduce the given axes (kept as 1). */
export function reduce(x: F64, axes: readonly number[], init: number, f: (acc: number, v: number) => number): F64 {
  const s = x.s.map((d, i) => (axes.includes(i) ? 1 : d));
  const d = new Float64Array(size(s)).fill(init);
  for (let i = 0; i < x.d.length; i++) {
    const idx = unravel(i, x.s).map((v, k) => (axes.includes(k) ? 0 : v));
    const o = ravel(idx, s);
    d[o] = f(d[o]!, x.d[i]!);
  }
  return { d, s };
}

export const rsum = (x: F64, axes: readonly number[]): F64 => reduce(x, axes, 0, (a, v) => a + v);
export const rmax = (x: F64, axes: readonly number[]): F64 => reduce(x, axes, -Infinity, (a, v) => Math.max(a, v));
export const rmin = (x: F64, axes: readonly number[]): F64 => reduce(x, axes, Infinity, (a, v) => Math.min(a, v));

export function squeezeAxes(x: F64, axes: readonly number[]): F64 {
  return { d: x.d, s: x.s.filter((_, i) => !axes.includes(i)) };
}

export function matmulRef(a: F64, b: F64, transA = false, transB = false): F64 {
  const ta = transA ? permuteRef(a, swapLast(a.s.length)) : a;
  const tb = transB ? permuteRef(b, swapLast(b.s.length)) : b;
  const [m, k] = ta.s.slice(-2) as [number, number];
  const n = tb.s[tb.s.length - 1]!;
  const batch = bshape(ta.s.slice(0, -2), tb.s.slice(0, -2));
  const s = [...batch, m, n];
  const d = new Float64Array(size(s));
  for (let bi = 0; bi < size(batch); bi++) {
    const bidx = unravel(bi, batch);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) acc += at(ta, [...bidx, i, p]) * at(tb, [...bidx, p, j]);
        d[(bi * m + i) * n + j] = acc;
      }
    }
  }
  return { d, s };
}

function swapLast(r: number): number[] {
  const p = [...Array(r).keys()];
  [p[r - 2], p[r - 1]] = [p[r - 1]!, p[r - 2]!];
  return p;
}

export function permuteRef(x: F64, perm: readonly number[]): F64 {
  const s = perm.map((p) => x.s[p]!);
  const d = new Float64Array(x.d.length);
  for (let i = 0; i < d.length; i++) {
    const idx = unravel(i, s);
    const src = new Array<number>(x.s.length);
    perm.forEach((p, k) => (src[p] = idx[k]!));
    d[i] = x.d[ravel(src, x.s)]!;
  }
  return { d, s };
}

export function sliceRef(x: F64, begin: readonly number[], sz: readonly number[]): F64 {
  const d = new Float64Array(size(sz));
  for (let i = 0; i < d.length; i++) {
    const idx = unravel(i, sz).map((v, k) => v + begin[k]!);
    d[i] = x.d[ravel(idx, x.s)]!;
  }
  return { d, s: [...sz] };
}

export function concatRef(xs: readonly F64[], axis: number): F64 {
  const s = [...xs[0]!.s];
  s[axis] = xs.reduce((a, x) => a + x.s[axis]!, 0);
  const d = new Float64Array(size(s));
  for (let i = 0; i < d.length; i++) {
    const idx = unravel(i, s);
    let j = idx[axis]!;
    let t = 0;
    while (j >= xs[t]!.s[axis]!) j -= xs[t++]!.s[axis]!;
    idx[axis] = j;
    d[i] = xs[t]!.d[ravel(idx, xs[t]!.s)]!;
  }
  return { d, s };
}

export function softmaxRef(x: F64, axis: number): F64 {
  const m = rmax(x, [axis]);
  const e = zip(x, m, (a, b) => Math.exp(a - b));
  return zip(e, rsum(e, [axis]), (a, b) => a / b);
}

export function logsumexpRef(x: F64, axes: readonly number[]): F64 {
  const m = rmax(x, axes);
  const e = rsum(zip(x, m, (a, b) => Math.exp(a - b)), axes);
  return zip(e, m, (a, b) => Math.log(a) + b);
}

export function layerNormRef(x: F64, w: F64 | null, b: F64 | null, eps: number): F64 {
  const ax = x.s.length - 1;
  const n = x.s[ax]!;
  const mu = map(rsum(x, [ax]), (v) => v / n);
  const dx = zip(x, mu, (a, c) => a - c);
  const v = map(rsum(map(dx, (t) => t * t), [ax]), (t) => t / n);
  let y = zip(dx, v, (a, c) => a / Math.sqrt(c + eps));
  if (w) y = zip(y, w, (a, c) => a * c);
  if (b) y = zip(y, b, (a, c) => a + c);
  return y;
}

export function rmsNormRef(x: F64, w: F64 | null, eps: number): F64 {
  const ax = x.s.length - 1;
  const n = x.s[ax]!;
  const ms = map(rsum(map(x, (t) => t * t), [ax]), (t) => t / n);
  const y = zip(x, ms, (a, c) => a / Math.sqrt(c + eps));
  return w ? zip(y, w, (a, c) => a * c) : y;
}

export function embeddingRef(table: F64, idx: readonly number[], idxShape: readonly number[]): F64 {
  const cols = table.s[1]!;
  const d = new Float64Array(idx.length * cols);
  idx.forEach((r, i) => d.set(table.d.subarray(r * cols, r * cols + cols), i * cols));
  return { d, s: [...idxShape, cols] };
}

export function crossEntropyRef(logits: F64, targets: readonly number[]): number {
  const c = logits.s[logits.s.length - 1]!;
  let total = 0;
  for (let i = 0; i < targets.length; i++) {
    const row = logits.d.subarray(i * c, i * c + c);
    const m = Math.max(...row);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    total += Math.log(s) + m - row[targets[i]!]!;
  }
  return total / targets.length;
}

export function rotaryRef(x: F64, base: number, offset: number): F64 {
  const n = x.s[x.s.length - 2]!;
  const dim = x.s[x.s.length - 1]!;
  const half = dim / 2;
  const d = new Float64Array(x.d.length);
  for (let i = 0; i < x.d.length; i++) {
    const f = i % dim;
    const p = Math.floor(i / dim) % n;
    const fi = f % half;
    const ang = (p + offset) * Math.pow(base, (-2 * fi) / dim);
    const partner = f < half ? -x.d[i + half]! : x.d[i - half]!;
    d[i] = x.d[i]! * Math.cos(ang) + partner * Math.sin(ang);
  }
  return { d, s: [...x.s] };
}

export const GELU = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
