/**
 * Float64 references written from the math with plain loops (no tensor ops, no model code):
 * softmax attention of one head over a key set, the compensation token, and an attention-only
 * GPT-2 forward (learned positions, layernorm) whose per-head attention is a callback, so the
 * DuoAttention mix, RazorAttention and span rules are each checked against their own definition.
 */
import type { Transformer } from '@attnlab/models';

export type Mat = Float64Array[]; // rows

/** Softmax attention of query i over the keys j <= i with see(j): returns the output row, or null with no key. */
export function attendRow(q: Float64Array, K: Mat, V: Mat, i: number, see: (j: number) => boolean, scale: number, extra?: { k: Float64Array; v: Float64Array; offset: number }): Float64Array {
  const s: number[] = [];
  const idx: number[] = [];
  for (let j = 0; j <= i; j++) {
    if (!see(j)) continue;
    let d = 0;
    for (let x = 0; x < q.length; x++) d += q[x]! * K[j]![x]!;
    s.push(d * scale);
    idx.push(j);
  }
  if (extra) {
    let d = 0;
    for (let x = 0; x < q.length; x++) d += q[x]! * extra.k[x]!;
    s.push(d * scale + extra.offset);
    idx.push(-1);
  }
  const m = Math.max(...s);
  const w = s.map((x) => Math.exp(x - m));
  const tot = w.reduce((a, b) => a + b, 0);
  const out = new Float64Array(V[0]!.length);
  idx.forEach((j, n) => {
    const v = j < 0 ? extra!.v : V[j]!;
    for (let x = 0; x < out.length; x++) out[x]! += (w[n]! / tot) * v[x]!;
  });
  return out;
}

/** Streaming (sinks + window) attention with the mean-of-dropped compensation token, or without it. */
export function compensatedRef(Q: Mat, K: Mat, V: Mat, sinks: number, window: number, scale: number, compensate: boolean, logCount: boolean): Mat {
  return Q.map((q, i) => {
    const see = (j: number): boolean => j < sinks || i - j < window;
    const dropped: number[] = [];
    for (let j = 0; j <= i; j++) if (!see(j)) dropped.push(j);
    if (!compensate || !dropped.length) return attendRow(q, K, V, i, see, scale);
    const mean = (M: Mat): Float64Array => {
      const o = new Float64Array(M[0]!.length);
      for (const j of dropped) for (let x = 0; x < o.length; x++) o[x]! += M[j]![x]! / dropped.length;
      return o;
    };
    return attendRow(q, K, V, i, see, scale, { k: mean(K), v: mean(V), offset: logCount ? Math.log(dropped.length) : 0 });
  });
}

/** Full causal attention of one head. */
export const fullRef = (Q: Mat, K: Mat, V: Mat, scale: number): Mat => Q.map((q, i) => attendRow(q, K, V, i, () => true, scale));

/** Per-head attention callback of the model reference: (layer, head, Q, K, V, scale) -> output rows. */
export type HeadAttend = (layer: number, head: number, Q: Mat, K: Mat, V: Mat, scale: number) => Mat;

async function params(model: Transformer): Promise<Map<string, Float64Array>> {
  const out = new Map<string, Float64Array>();
  for (const [n, t] of model.namedParameters()) out.set(n, Float64Array.from(await t.data()));
  return out;
}

/** Logits [B * N * V] of an attention-only, learned-position, layernorm model in float64. */
export async function attnOnlyRef64(model: Transformer, tokens: number[][], attend: HeadAttend): Promise<Float64Array> {
  const c = model.config;
  if (!c.attnOnly || c.positional !== 'learned' || c.norm !== 'layernorm') throw new Error('attnOnlyRef64: attention-only, learned positions, layernorm only');
  const P = await params(model);
  const g = (n: string): Float64Array => {
    const p = P.get(n);
    if (!p) throw new Error(`attnOnlyRef64: no parameter ${n}`);
    return p;
  };
  const { dModel: D, nHeads: H, dHead: Dh, vocabSize: Vs } = c;
  const N = tokens[0]!.length;
  const ln = (x: Float64Array[], pre: string): Float64Array[] => x.map((r) => {
    const mu = r.reduce((a, b) => a + b, 0) / D;
    const varc = r.reduce((a, b) => a + (b - mu) ** 2, 0) / D;
    const s = Math.sqrt(varc + c.normEps);
    return r.map((v, d) => ((v - mu) / s) * g(`${pre}.weight`)[d]! + g(`${pre}.bias`)[d]!);
  });
  const lin = (x: Float64Array[], w: Float64Array, bias: Float64Array, dout: number): Float64Array[] => x.map((r) => {
    const o = Float64Array.from(bias);
    for (let k = 0; k < r.length; k++) for (let j = 0; j < dout; j++) o[j]! += r[k]! * w[k * dout + j]!;
    return o;
  });
  const out = new Float64Array(tokens.length * N * Vs);
  tokens.forEach((row, b) => {
    let x = row.map((t, i) => Float64Array.from({ length: D }, (_, d) => g('wte.weight')[t * D + d]! + g('wpe.weight')[i * D + d]!));
    for (let l = 0; l < c.nLayers; l++) {
      const qkv = lin(ln(x, `h.${l}.ln_1`), g(`h.${l}.attn.c_attn.weight`), g(`h.${l}.attn.c_attn.bias`), 3 * H * Dh);
      const z = x.map(() => new Float64Array(H * Dh));
      for (let h = 0; h < H; h++) {
        const part = (p: number): Mat => qkv.map((r) => r.slice(p * H * Dh + h * Dh, p * H * Dh + (h + 1) * Dh));
        const o = attend(l, h, part(0), part(1), part(2), 1 / Math.sqrt(Dh));
        o.forEach((r, i) => z[i]!.set(r, h * Dh));
      }
      const ao = lin(z, g(`h.${l}.attn.c_proj.weight`), g(`h.${l}.attn.c_proj.bias`), D);
      x = x.map((r, i) => r.map((v, d) => v + ao[i]![d]!));
    }
    const xf = ln(x, 'ln_f');
    const U = c.tiedEmbeddings ? g('wte.weight') : g('lm_head.weight');
    xf.forEach((r, i) => {
      for (let t = 0; t < Vs; t++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += r[d]! * U[t * D + d]!;
        out[(b * N + i) * Vs + t] = s;
      }
    });
  });
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
