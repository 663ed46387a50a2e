/**
 * Float64 reference for packed documents, written for the tests without the package's mods or
 * references: every document is attended alone (its own positions from 0, its own key length),
 * forward and gradients by the textbook formulas.
 */

export interface DocRefOptions {
  cuQ: readonly number[];
  cuK: readonly number[];
  Hq: number;
  Hkv: number;
  D: number;
  Dv: number;
  scale: number;
  /** Keep (q, k) inside a document: positions local to it, with its query and key lengths. */
  keep?: (h: number, q: number, k: number, qLen: number, kLen: number) => boolean;
  /** Score mod on local positions and its d/ds. */
  mod?: { f: (s: number, h: number, q: number, k: number) => number; df: (s: number, h: number, q: number, k: number) => number };
  sigmoid?: boolean;
  /** Sigmoid bias; default -log(the document's key length), as a document attended alone. */
  sigmoidBias?: number;
}

export interface DocRefResult {
  out: Float64Array;
  lse: Float64Array;
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
}

/** q [1, Hq, Nq, D], k [1, Hkv, Nk, D], v [1, Hkv, Nk, Dv]; gOut / gLse: upstream gradients (gLse may be null). */
export function docRef(qa: ArrayLike<number>, ka: ArrayLike<number>, va: ArrayLike<number>, o: DocRefOptions, gOut?: ArrayLike<number>, gLse?: ArrayLike<number> | null): DocRefResult {
  const { cuQ, cuK, Hq, Hkv, D, Dv, scale } = o;
  const Nq = cuQ[cuQ.length - 1]!;
  const Nk = cuK[cuK.length - 1]!;
  const G = Hq / Hkv;
  const out = new Float64Array(Hq * Nq * Dv);
  const lse = new Float64Array(Hq * Nq);
  const dq = new Float64Array(Hq * Nq * D);
  const dk = new Float64Array(Hkv * Nk * D);
  const dv = new Float64Array(Hkv * Nk * Dv);
  for (let d = 0; d + 1 < cuQ.length; d++) {
    const q0 = cuQ[d]!;
    const k0 = cuK[d]!;
    const qLen = cuQ[d + 1]! - q0;
    const kLen = cuK[d + 1]! - k0;
    const bias = o.sigmoidBias ?? -Math.log(kLen);
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / G);
      for (let i = 0; i < qLen; i++) {
        const row = h * Nq + q0 + i;
        const qo = row * D;
        const raw: number[] = [];
        const sc: number[] = [];
        const js: number[] = [];
        for (let j = 0; j < kLen; j++) {
          if (o.keep && !o.keep(h, i, j, qLen, kLen)) continue;
          const ko = (hk * Nk + k0 + j) * D;
          let s = 0;
          for (let c = 0; c < D; c++) s += qa[qo + c]! * ka[ko + c]!;
          s *= scale;
          raw.push(s);
          sc.push(o.mod ? o.mod.f(s, h, i, j) : s);
          js.push(j);
        }
        if (js.length === 0) {
          lse[row] = -Infinity;
          continue;
        }
        // Weights w_j and dL/ds'_j (s' = modded score).
        let w: number[];
        if (o.sigmoid) {
          w = sc.map((s) => 1 / (1 + Math.exp(-(s + bias))));
          lse[row] = Math.log(w.reduce((a, b) => a + b, 0));
        } else {
          const m = Math.max(...sc);
          const e = sc.map((s) => Math.exp(s - m));
          const z = e.reduce((a, b) => a + b, 0);
          w = e.map((x) => x / z);
          lse[row] = m + Math.log(z);
        }
        for (let t = 0; t < js.length; t++) {
          const vo = (hk * Nk + k0 + js[t]!) * Dv;
          for (let c = 0; c < Dv; c++) out[row * Dv + c] += w[t]! * va[vo + c]!;
        }
        if (!gOut) continue;
        const gl = gLse ? gLse[row]! : 0;
        const dw = js.map((j) => {
          const vo = (hk * Nk + k0 + j) * Dv;
          let x = 0;
          for (let c = 0; c < Dv; c++) x += gOut[row * Dv + c]! * va[vo + c]!;
          return x;
        });
        let ds: number[];
        if (o.sigmoid) {
          const tot = Math.exp(lse[row]!);
          ds = w.map((x, t) => (dw[t]! + gl / tot) * x * (1 - x));
        } else {
          const mean = w.reduce((a, x, t) => a + x * dw[t]!, 0);
          ds = w.map((x, t) => x * (dw[t]! - mean) + gl * x);
        }
        for (let t = 0; t < js.length; t++) {
          const j = js[t]!;
          const g = ds[t]! * (o.mod ? o.mod.df(raw[t]!, h, i, j) : 1) * scale;
          const ko = (hk * Nk + k0 + j) * D;
          for (let c = 0; c < D; c++) {
            dq[qo + c] += g * ka[ko + c]!;
            dk[ko + c] += g * qa[qo + c]!;
          }
          const vo = (hk * Nk + k0 + j) * Dv;
          for (let c = 0; c < Dv; c++) dv[vo + c] += w[t]! * gOut[row * Dv + c]!;
        }
      }
    }
  }
  return { out, lse, dq, dk, dv };
}

/** Random document lengths summing to N: at least one of length 1 and an odd one when N allows. */
export function randomDocs(r: () => number, N: number, maxLen: number): number[] {
  const lens: number[] = [];
  let left = N;
  while (left > 0) {
    const pick = lens.length === 1 ? 1 : 1 + Math.floor(r() * maxLen);
    const n = Math.min(left, pick);
    lens.push(n);
    left -= n;
  }
  // Shuffle so the length-1 document is not always second.
  for (let i = lens.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [lens[i], lens[j]] = [lens[j]!, lens[i]!];
  }
  const cu = [0];
  for (const n of lens) cu.push(cu[cu.length - 1]! + n);
  return cu;
}
