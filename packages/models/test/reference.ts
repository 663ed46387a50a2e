import type { ModelConfig } from '../src/index.js';

/**
 * An independent float64 forward of the GPT-2-family transformer, written from the math with
 * plain loops (no tensor ops), used to judge the model.
 */
export type State = Map<string, { data: Float32Array; shape: number[] }>;

function P(state: State, name: string): Float64Array {
  const p = state.get(name);
  if (!p) throw new Error(`reference: missing ${name}`);
  return Float64Array.from(p.data);
}

/** x [n, din] @ w [din, dout] + b */
function linear(x: Float64Array, n: number, din: number, w: Float64Array, dout: number, b?: Float64Array): Float64Array {
  const out = new Float64Array(n * dout);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < dout; o++) {
      let s = b ? b[o]! : 0;
      for (let k = 0; k < din; k++) s += x[i * din + k]! * w[k * dout + o]!;
      out[i * dout + o] = s;
    }
  }
  return out;
}

function norm(cfg: ModelConfig, state: State, prefix: string, x: Float64Array, n: number): Float64Array {
  const D = cfg.dModel;
  if (cfg.norm === 'none') return x;
  const w = P(state, `${prefix}.weight`);
  const b = cfg.norm === 'layernorm' ? P(state, `${prefix}.bias`) : null;
  const out = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * D, (i + 1) * D);
    let mu = 0;
    if (cfg.norm === 'layernorm') {
      for (const v of row) mu += v;
      mu /= D;
    }
    let ss = 0;
    for (const v of row) ss += (v - mu) ** 2;
    const inv = 1 / Math.sqrt(ss / D + cfg.normEps);
    for (let d = 0; d < D; d++) out[i * D + d] = (row[d]! - mu) * inv * w[d]! + (b ? b[d]! : 0);
  }
  return out;
}

function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/** Rotate-half rotary on one head vector at position p. */
function rope(v: Float64Array, p: number, base: number): Float64Array {
  const d = v.length;
  const half = d / 2;
  const out = new Float64Array(d);
  for (let i = 0; i < half; i++) {
    const ang = p * Math.pow(base, (-2 * i) / d);
    const c = Math.cos(ang);
    const s = Math.sin(ang);
    out[i] = v[i]! * c - v[i + half]! * s;
    out[i + half] = v[i + half]! * c + v[i]! * s;
  }
  return out;
}

/** Logits [B, N, V] in float64 for tokens [B][N]. */
export function referenceForward(cfg: ModelConfig, state: State, tokens: number[][]): Float64Array {
  const B = tokens.length;
  const N = tokens[0]!.length;
  const D = cfg.dModel;
  const H = cfg.nHeads;
  const Dh = cfg.dHead;
  const V = cfg.vocabSize;
  const wte = P(state, 'wte.weight');
  const out = new Float64Array(B * N * V);
  for (let b = 0; b < B; b++) {
    let x = new Float64Array(N * D);
    const wpe = cfg.positional === 'learned' ? P(state, 'wpe.weight') : null;
    for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) x[i * D + d] = wte[tokens[b]![i]! * D + d]! + (wpe ? wpe[i * D + d]! : 0);
    for (let l = 0; l < cfg.nLayers; l++) {
      const h1 = norm(cfg, state, `h.${l}.ln_1`, x, N);
      const qkv = linear(h1, N, D, P(state, `h.${l}.attn.c_attn.weight`), 3 * H * Dh, P(state, `h.${l}.attn.c_attn.bias`));
      const z = new Float64Array(N * H * Dh);
      for (let h = 0; h < H; h++) {
        const vec = (i: number, part: number): Float64Array => {
          const v = qkv.slice(i * 3 * H * Dh + part * H * Dh + h * Dh, i * 3 * H * Dh + part * H * Dh + (h + 1) * Dh);
          return cfg.positional === 'rotary' && part < 2 ? rope(v, i, cfg.rotaryBase) : v;
        };
        for (let i = 0; i < N; i++) {
          const q = vec(i, 0);
          const scores: number[] = [];
          for (let j = 0; j <= i; j++) {
            const k = vec(j, 1);
            let s = 0;
            for (let d = 0; d < Dh; d++) s += q[d]! * k[d]!;
            scores.push(s / Math.sqrt(Dh));
          }
          const m = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - m));
          const tot = e.reduce((a, c) => a + c, 0);
          for (let j = 0; j <= i; j++) {
            const v = vec(j, 2);
            for (let d = 0; d < Dh; d++) z[i * H * Dh + h * Dh + d]! += (e[j]! / tot) * v[d]!;
          }
        }
      }
      const attnOut = linear(z, N, H * Dh, P(state, `h.${l}.attn.c_proj.weight`), D, P(state, `h.${l}.attn.c_proj.bias`));
      x = x.map((v, i) => v + attnOut[i]!);
      if (!cfg.attnOnly) {
        const h2 = norm(cfg, state, `h.${l}.ln_2`, x, N);
        const pre = linear(h2, N, D, P(state, `h.${l}.mlp.c_fc.weight`), cfg.dMlp, P(state, `h.${l}.mlp.c_fc.bias`));
        const post = pre.map((v) => (cfg.act === 'gelu' ? gelu(v) : Math.max(0, v)));
        const mo = linear(post, N, cfg.dMlp, P(state, `h.${l}.mlp.c_proj.weight`), D, P(state, `h.${l}.mlp.c_proj.bias`));
        x = x.map((v, i) => v + mo[i]!);
      }
    }
    const xf = norm(cfg, state, 'ln_f', x, N);
    const U = cfg.tiedEmbeddings ? wte : P(state, 'lm_head.weight');
    for (let i = 0; i < N; i++) {
      for (let t = 0; t < V; t++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += xf[i * D + d]! * U[t * D + d]!;
        out[(b * N + i) * V + t] = s;
      }
    }
  }
  return out;
}
