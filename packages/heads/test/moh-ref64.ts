/** Float64 ViT forward written from the definition (independent of @attnlab/tensor), shared by the MoH and SQA tests. */
export interface RefConfig {
  imageSize: number; patchSize: number; channels: number; nClasses: number; dModel: number; nLayers: number; nHeads: number; dHead: number; dMlp: number; normEps: number;
}
export type RefState = Map<string, { data: Float32Array; shape: readonly number[] }>;
/** Per-token head weights of layer l from the normalised rows x (T rows of D): T rows of H, or null for none. */
export type RefGates = (l: number, x: Float64Array[]) => number[][] | null;

const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

function layerNorm(x: Float64Array, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  const n = x.length;
  let m = 0;
  for (const v of x) m += v;
  m /= n;
  let s = 0;
  for (const v of x) s += (v - m) ** 2;
  const r = 1 / Math.sqrt(s / n + eps);
  return x.map((v, i) => (v - m) * r * w[i]! + b[i]!);
}

/** y = x @ W + b for W stored [I, O] row-major, optionally a column window [c0, c0 + O). */
function linear(x: Float64Array, W: Float32Array, b: Float32Array | null, I: number, cols: number, c0 = 0, O = cols): Float64Array {
  const y = new Float64Array(O);
  for (let o = 0; o < O; o++) {
    let s = b ? b[c0 + o]! : 0;
    for (let i = 0; i < I; i++) s += x[i]! * W[i * cols + c0 + o]!;
    y[o] = s;
  }
  return y;
}

export function vitRef64(c: RefConfig, st: RefState, images: Float32Array, B: number, gates?: RefGates, scale?: (l: number, h: number) => number): Float64Array {
  const P = (n: string): Float32Array => {
    const t = st.get(n);
    if (!t) throw new Error(`ref: missing ${n}`);
    return t.data;
  };
  const S = c.imageSize;
  const side = S / c.patchSize;
  const T = side * side + 1;
  const D = c.dModel;
  const F = c.channels * c.patchSize * c.patchSize;
  const HD = c.nHeads * c.dHead;
  const out = new Float64Array(B * c.nClasses);
  for (let b = 0; b < B; b++) {
    let X: Float64Array[] = [];
    X.push(Float64Array.from(P('cls_token')));
    for (let py = 0; py < side; py++) {
      for (let px = 0; px < side; px++) {
        const f = new Float64Array(F);
        let i = 0;
        for (let ch = 0; ch < c.channels; ch++) for (let y = 0; y < c.patchSize; y++) for (let x = 0; x < c.patchSize; x++) f[i++] = images[((b * c.channels + ch) * S + py * c.patchSize + y) * S + px * c.patchSize + x]!;
        X.push(linear(f, P('patch_embed.weight'), P('patch_embed.bias'), F, D));
      }
    }
    const pos = P('pos_embed');
    X = X.map((r, t) => r.map((v, d) => v + pos[t * D + d]!));
    for (let l = 0; l < c.nLayers; l++) {
      const h = `h.${l}`;
      const xn = X.map((r) => layerNorm(r, P(`${h}.ln_1.weight`), P(`${h}.ln_1.bias`), c.normEps));
      const Wq = P(`${h}.attn.c_attn.weight`);
      const bq = P(`${h}.attn.c_attn.bias`);
      const q = xn.map((r) => linear(r, Wq, bq, D, 3 * HD, 0, HD));
      const k = xn.map((r) => linear(r, Wq, bq, D, 3 * HD, HD, HD));
      const v = xn.map((r) => linear(r, Wq, bq, D, 3 * HD, 2 * HD, HD));
      const g = gates?.(l, xn) ?? null;
      const z = Array.from({ length: T }, () => new Float64Array(HD));
      for (let hh = 0; hh < c.nHeads; hh++) {
        const o = hh * c.dHead;
        for (let i = 0; i < T; i++) {
          const s = new Float64Array(T);
          let mx = -Infinity;
          for (let j = 0; j < T; j++) {
            let d = 0;
            for (let e = 0; e < c.dHead; e++) d += q[i]![o + e]! * k[j]![o + e]!;
            s[j] = d * (scale ? scale(l, hh) : 1 / Math.sqrt(c.dHead));
            mx = Math.max(mx, s[j]!);
          }
          let den = 0;
          for (let j = 0; j < T; j++) den += (s[j] = Math.exp(s[j]! - mx));
          const w = g ? g[i]![hh]! : 1;
          for (let j = 0; j < T; j++) for (let e = 0; e < c.dHead; e++) z[i]![o + e] = z[i]![o + e]! + (w * s[j]! / den) * v[j]![o + e]!;
        }
      }
      X = X.map((r, t) => {
        const a = linear(z[t]!, P(`${h}.attn.c_proj.weight`), P(`${h}.attn.c_proj.bias`), HD, D);
        return r.map((x, d) => x + a[d]!);
      });
      X = X.map((r) => {
        const x2 = layerNorm(r, P(`${h}.ln_2.weight`), P(`${h}.ln_2.bias`), c.normEps);
        const pre = linear(x2, P(`${h}.mlp.c_fc.weight`), P(`${h}.mlp.c_fc.bias`), D, c.dMlp).map(gelu);
        const m = linear(pre, P(`${h}.mlp.c_proj.weight`), P(`${h}.mlp.c_proj.bias`), c.dMlp, D);
        return r.map((x, d) => x + m[d]!);
      });
    }
    const f = layerNorm(X[0]!, P('ln_f.weight'), P('ln_f.bias'), c.normEps);
    out.set(linear(f, P('head.weight'), P('head.bias'), D, c.nClasses), b * c.nClasses);
  }
  return out;
}
