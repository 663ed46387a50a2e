/**
 * A float64 GPT-2-family forward written from the math with plain loops (no tensor ops, no
 * model code), recording every TransformerLens activation by name with its TransformerLens
 * shape. Options: which keys each (layer, head) query sees, softmax or sigmoid weights per head,
 * and the positions at which RoPE rotates a query/key pair (StreamingLLM's cache positions).
 */
import type { ModelConfig } from '../src/index.js';

export type State = Map<string, { data: Float32Array; shape: readonly number[] }>;

export interface Ref64Options {
  /** Whether query i sees key j in (layer, head); default causal j <= i. */
  visible?: (layer: number, head: number, i: number, j: number) => boolean;
  /** Weights per head: softmax (default) or sigmoid with bias -log(visible count of the row's keys Nk). */
  weights?: (layer: number, head: number) => 'softmax' | 'sigmoid';
  /** Score modifier applied to the scaled score of (i, j) (FlexAttention's score_mod). */
  score?: (layer: number, head: number, s: number, i: number, j: number) => number;
  /** Rotary positions [query, key] for the pair (i, j); default [i, j]. */
  ropePositions?: (layer: number, head: number, i: number, j: number) => [number, number];
}

export interface Ref64 {
  logits: Float64Array;
  acts: Map<string, { data: Float64Array; shape: number[] }>;
}

function P(state: State, name: string): Float64Array {
  const p = state.get(name);
  if (!p) throw new Error(`ref64: missing ${name}`);
  return Float64Array.from(p.data);
}

function rotate(v: Float64Array, p: number, base: number): Float64Array {
  const d = v.length;
  const half = d / 2;
  const out = new Float64Array(d);
  for (let i = 0; i < half; i++) {
    const ang = p * base ** ((-2 * i) / d);
    out[i] = v[i]! * Math.cos(ang) - v[i + half]! * Math.sin(ang);
    out[i + half] = v[i + half]! * Math.cos(ang) + v[i]! * Math.sin(ang);
  }
  return out;
}

const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

export function gpt2Ref64(cfg: ModelConfig, state: State, tokens: number[][], opts: Ref64Options = {}): Ref64 {
  const B = tokens.length;
  const N = tokens[0]!.length;
  const D = cfg.dModel;
  const H = cfg.nHeads;
  const Dh = cfg.dHead;
  const V = cfg.vocabSize;
  const visible = opts.visible ?? ((_l, _h, i, j) => j <= i);
  const acts = new Map<string, { data: Float64Array; shape: number[] }>();
  /** Store row-major data for batch row b into activation `name` of shape [B, ...rest]. */
  const put = (name: string, b: number, rest: number[], data: Float64Array): void => {
    let a = acts.get(name);
    const per = rest.reduce((x, y) => x * y, 1);
    if (!a) acts.set(name, (a = { data: new Float64Array(B * per), shape: [B, ...rest] }));
    a.data.set(data, b * per);
  };
  const linear = (x: Float64Array, n: number, din: number, w: Float64Array, dout: number, bias: Float64Array): Float64Array => {
    const out = new Float64Array(n * dout);
    for (let i = 0; i < n; i++) for (let o = 0; o < dout; o++) {
      let s = bias[o]!;
      for (let k = 0; k < din; k++) s += x[i * din + k]! * w[k * dout + o]!;
      out[i * dout + o] = s;
    }
    return out;
  };
  const norm = (prefix: string, hook: string, b: number, x: Float64Array): Float64Array => {
    if (cfg.norm === 'none') return x;
    const w = P(state, `${prefix}.weight`);
    const bias = cfg.norm === 'layernorm' ? P(state, `${prefix}.bias`) : null;
    const out = new Float64Array(N * D);
    const scale = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      let mu = 0;
      if (cfg.norm === 'layernorm') {
        for (let d = 0; d < D; d++) mu += x[i * D + d]!;
        mu /= D;
      }
      let ss = 0;
      for (let d = 0; d < D; d++) ss += (x[i * D + d]! - mu) ** 2;
      scale[i] = Math.sqrt(ss / D + cfg.normEps);
      for (let d = 0; d < D; d++) out[i * D + d] = ((x[i * D + d]! - mu) / scale[i]!) * w[d]! + (bias ? bias[d]! : 0);
    }
    put(`${hook}.hook_scale`, b, [N, 1], scale);
    put(`${hook}.hook_normalized`, b, [N, D], out);
    return out;
  };
  const logits = new Float64Array(B * N * V);
  const wte = P(state, 'wte.weight');
  for (let b = 0; b < B; b++) {
    const embed = new Float64Array(N * D);
    for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) embed[i * D + d] = wte[tokens[b]![i]! * D + d]!;
    put('hook_embed', b, [N, D], embed);
    let x = embed.slice();
    if (cfg.positional === 'learned') {
      const wpe = P(state, 'wpe.weight');
      const pos = wpe.slice(0, N * D);
      put('hook_pos_embed', b, [N, D], pos);
      x = x.map((v, i) => v + pos[i]!);
    }
    for (let l = 0; l < cfg.nLayers; l++) {
      const blk = `blocks.${l}`;
      put(`${blk}.hook_resid_pre`, b, [N, D], x);
      const h1 = norm(`h.${l}.ln_1`, `${blk}.ln1`, b, x);
      const qkv = linear(h1, N, D, P(state, `h.${l}.attn.c_attn.weight`), 3 * H * Dh, P(state, `h.${l}.attn.c_attn.bias`));
      const vec = (i: number, part: number, h: number): Float64Array => qkv.slice(i * 3 * H * Dh + part * H * Dh + h * Dh, i * 3 * H * Dh + part * H * Dh + (h + 1) * Dh);
      for (const [part, name] of [[0, 'q'], [1, 'k'], [2, 'v']] as const) {
        const t = new Float64Array(N * H * Dh);
        for (let i = 0; i < N; i++) for (let h = 0; h < H; h++) t.set(vec(i, part, h), (i * H + h) * Dh);
        put(`${blk}.attn.hook_${name}`, b, [N, H, Dh], t);
      }
      const z = new Float64Array(N * H * Dh);
      const scoresAll = new Float64Array(H * N * N).fill(-Infinity);
      const patternAll = new Float64Array(H * N * N);
      for (let h = 0; h < H; h++) {
        const kind = opts.weights?.(l, h) ?? 'softmax';
        for (let i = 0; i < N; i++) {
          const row = new Float64Array(N).fill(-Infinity);
          for (let j = 0; j < N; j++) {
            if (!(j <= i && visible(l, h, i, j))) continue;
            let q = vec(i, 0, h);
            let k = vec(j, 1, h);
            if (cfg.positional === 'rotary') {
              const [qp, kp] = opts.ropePositions?.(l, h, i, j) ?? [i, j];
              q = rotate(q, qp, cfg.rotaryBase);
              k = rotate(k, kp, cfg.rotaryBase);
            }
            let s = 0;
            for (let d = 0; d < Dh; d++) s += q[d]! * k[d]!;
            row[j] = opts.score ? opts.score(l, h, s / Math.sqrt(Dh), i, j) : s / Math.sqrt(Dh);
          }
          const m = Math.max(...row);
          let tot = 0;
          for (let j = 0; j < N; j++) if (row[j] !== -Infinity) tot += Math.exp(row[j]! - m);
          for (let j = 0; j < N; j++) {
            scoresAll[(h * N + i) * N + j] = row[j]!;
            if (row[j] === -Infinity) continue;
            const p = kind === 'sigmoid' ? 1 / (1 + Math.exp(-(row[j]! - Math.log(N)))) : Math.exp(row[j]! - m) / tot;
            patternAll[(h * N + i) * N + j] = p;
            const v = vec(j, 2, h);
            for (let d = 0; d < Dh; d++) z[(i * H + h) * Dh + d]! += p * v[d]!;
          }
        }
      }
      put(`${blk}.attn.hook_attn_scores`, b, [H, N, N], scoresAll);
      put(`${blk}.attn.hook_pattern`, b, [H, N, N], patternAll);
      put(`${blk}.attn.hook_z`, b, [N, H, Dh], z);
      const attnOut = linear(z, N, H * Dh, P(state, `h.${l}.attn.c_proj.weight`), D, P(state, `h.${l}.attn.c_proj.bias`));
      put(`${blk}.hook_attn_out`, b, [N, D], attnOut);
      x = x.map((v, i) => v + attnOut[i]!);
      if (!cfg.attnOnly) {
        put(`${blk}.hook_resid_mid`, b, [N, D], x);
        put(`${blk}.hook_mlp_in`, b, [N, D], x);
        const h2 = norm(`h.${l}.ln_2`, `${blk}.ln2`, b, x);
        const pre = linear(h2, N, D, P(state, `h.${l}.mlp.c_fc.weight`), cfg.dMlp, P(state, `h.${l}.mlp.c_fc.bias`));
        put(`${blk}.mlp.hook_pre`, b, [N, cfg.dMlp], pre);
        const post = pre.map((v) => (cfg.act === 'gelu' ? gelu(v) : Math.max(0, v)));
        put(`${blk}.mlp.hook_post`, b, [N, cfg.dMlp], post);
        const mo = linear(post, N, cfg.dMlp, P(state, `h.${l}.mlp.c_proj.weight`), D, P(state, `h.${l}.mlp.c_proj.bias`));
        put(`${blk}.hook_mlp_out`, b, [N, D], mo);
        x = x.map((v, i) => v + mo[i]!);
      }
      put(`${blk}.hook_resid_post`, b, [N, D], x);
    }
    const xf = norm('ln_f', 'ln_final', b, x);
    const U = cfg.tiedEmbeddings ? wte : P(state, 'lm_head.weight');
    for (let i = 0; i < N; i++) for (let t = 0; t < V; t++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += xf[i * D + d]! * U[t * D + d]!;
      logits[(b * N + i) * V + t] = s;
    }
  }
  return { logits, acts };
}

/** Max abs difference treating equal infinities as equal (masked scores are -Infinity in both). */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
