/**
 * Copying scores of each head's OV circuit (A Mathematical Framework for Transformer Circuits;
 * TransformerLens's FactoredMatrix eigenvalues / full OV circuit): how much attending to a token
 * raises that same token's logit, read from the weights alone (no prompts).
 *
 * The circuit of head (l, h) over tokens S is A = E_S · W_V · W_O · U_S (|S| x |S|): row t is the
 * direct logit effect of the head attending to token t. As TransformerLens with fold_ln and
 * center_writing_weights: ln_1's gain is folded into W_V and ln_f's into U, and for LayerNorm
 * models the embedding rows and W_O's output rows are centred (what the norms do to them);
 * biases, positions and the norms' division by the row scale (a positive factor) are left out.
 *
 * - `eigen`: sum(Re λ) / sum(|λ|) over the eigenvalues of A, in [-1, 1]: 1 for a pure copier
 *   (all eigenvalues positive), -1 for an anti-copier. A's nonzero eigenvalues are those of the
 *   d_head x d_head product W_O · U_S · E_S · W_V (cyclic invariance), which is what is solved.
 * - `top1`: share of tokens t in S whose own logit A[t, t] is the largest of row t (strictly).
 * - `logitGain`: mean over t of A[t, t] - mean_s A[t, s], in logit units.
 */
import { tensor, type Tensor } from '@attnlab/tensor';
import type { Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';
import { eigenvalues, type Eigenvalues } from './eigenvalues.js';

export interface CopyingOptions {
  /** Restrict the circuit to these token ids (default: the whole vocabulary). */
  tokens?: readonly number[];
}

export interface CopyingScores {
  /** [layers, heads]: sum(Re λ) / sum(|λ|) of the OV circuit, in [-1, 1]. */
  eigen: Tensor;
  /** [layers, heads]: share of tokens whose own logit tops their OV row. */
  top1: Tensor;
  /** [layers, heads]: mean own-token logit minus the row mean. */
  logitGain: Tensor;
  /** Per layer, per head: the d_head eigenvalues. */
  eigenvalues: Eigenvalues[][];
  tokens: number[];
}

/** Work above this many multiply-adds needs a smaller token set (say so instead of stalling). */
const MAX_WORK = 4e9;

/** a [n, k] · b [k, m], row-major float64. */
function mm(a: Float64Array, b: Float64Array, n: number, k: number, m: number): Float64Array {
  const o = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) {
    const w = a[i * k + j]!;
    if (w === 0) continue;
    for (let x = 0; x < m; x++) o[i * m + x]! += w * b[j * m + x]!;
  }
  return o;
}

async function f64(model: Transformer, name: string): Promise<Float64Array> {
  return Float64Array.from(await model.param(name).data());
}

function tokenSet(model: Transformer, tokens: readonly number[] | undefined): number[] {
  const V = model.config.vocabSize;
  if (tokens === undefined) return Array.from({ length: V }, (_, i) => i);
  if (!Array.isArray(tokens) || tokens.length === 0) throw new HeadsError('copyingScores', 'options.tokens must be a non-empty array of token ids');
  const seen = new Set<number>();
  for (const t of tokens) {
    if (!Number.isInteger(t) || t < 0 || t >= V) throw new HeadsError('copyingScores', `token id ${String(t)} is outside the vocabulary of ${V}`);
    if (seen.has(t)) throw new HeadsError('copyingScores', `token id ${t} is listed twice in options.tokens`);
    seen.add(t);
  }
  return [...tokens];
}

/** Copying scores of every head (see the file comment for the three definitions). */
export async function copyingScores(model: Transformer, options: CopyingOptions = {}): Promise<CopyingScores> {
  const c = model.config;
  const { nLayers: L, nHeads: H, dHead: Dh, dModel: D } = c;
  const S = tokenSet(model, options.tokens);
  const n = S.length;
  const work = n * D * D + L * H * n * n * 2;
  if (work > MAX_WORK) throw new HeadsError('copyingScores', `${n} tokens x d_model ${D} is too much work (${work.toExponential(1)} multiply-adds): pass options.tokens with the tokens of interest`);
  const centre = c.norm === 'layernorm';
  const wte = await f64(model, 'wte.weight');
  const unembed = c.tiedEmbeddings ? wte : await f64(model, 'lm_head.weight');
  const gf = c.norm === 'none' ? null : await f64(model, 'ln_f.weight');
  // E_S [n, D] (centred for LayerNorm) and U_S [D, n] with ln_f's gain folded in.
  const E = new Float64Array(n * D);
  const U = new Float64Array(D * n);
  S.forEach((t, i) => {
    let mu = 0;
    if (centre) for (let d = 0; d < D; d++) mu += wte[t * D + d]! / D;
    for (let d = 0; d < D; d++) {
      E[i * D + d] = wte[t * D + d]! - mu;
      U[d * n + i] = unembed[t * D + d]! * (gf ? gf[d]! : 1);
    }
  });
  // G = U_S · E_S [D, D], shared by every head.
  const G = mm(U, E, D, n, D);
  const eigen = new Float32Array(L * H);
  const top1 = new Float32Array(L * H);
  const gain = new Float32Array(L * H);
  const eig: Eigenvalues[][] = [];
  const HD = H * Dh;
  for (let l = 0; l < L; l++) {
    const Wqkv = await f64(model, `h.${l}.attn.c_attn.weight`); // [D, 3 * H * Dh]
    const Wproj = await f64(model, `h.${l}.attn.c_proj.weight`); // [H * Dh, D]
    const g1 = c.norm === 'none' ? null : await f64(model, `h.${l}.ln_1.weight`);
    const row: Eigenvalues[] = [];
    for (let h = 0; h < H; h++) {
      const Wv = new Float64Array(D * Dh);
      for (let d = 0; d < D; d++) for (let j = 0; j < Dh; j++) Wv[d * Dh + j] = Wqkv[d * 3 * HD + 2 * HD + h * Dh + j]! * (g1 ? g1[d]! : 1);
      const Wo = new Float64Array(Dh * D);
      for (let j = 0; j < Dh; j++) {
        let mu = 0;
        if (centre) for (let d = 0; d < D; d++) mu += Wproj[(h * Dh + j) * D + d]! / D;
        for (let d = 0; d < D; d++) Wo[j * D + d] = Wproj[(h * Dh + j) * D + d]! - mu;
      }
      // M = W_O · G · W_V [Dh, Dh].
      const M = mm(mm(Wo, G, Dh, D, D), Wv, Dh, D, Dh);
      const ev = eigenvalues(M, Dh);
      row.push(ev);
      let sRe = 0, sAbs = 0;
      for (let k = 0; k < Dh; k++) {
        sRe += ev.re[k]!;
        sAbs += Math.hypot(ev.re[k]!, ev.im[k]!);
      }
      eigen[l * H + h] = sAbs > 0 ? sRe / sAbs : Number.NaN;
      // The full circuit A = (E_S · W_V) · (W_O · U_S), one row per source token.
      // Row by row: A itself would be n x n.
      const EV = mm(E, Wv, n, D, Dh);
      const OU = mm(Wo, U, Dh, D, n);
      let hits = 0, g = 0;
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        a.fill(0);
        for (let k = 0; k < Dh; k++) {
          const w = EV[i * Dh + k]!;
          for (let s = 0; s < n; s++) a[s]! += w * OU[k * n + s]!;
        }
        let mean = 0, top = true;
        for (let s = 0; s < n; s++) {
          mean += a[s]! / n;
          if (s !== i && a[s]! >= a[i]!) top = false;
        }
        if (top) hits++;
        g += a[i]! - mean;
      }
      top1[l * H + h] = hits / n;
      gain[l * H + h] = g / n;
    }
    eig.push(row);
  }
  const dev = { device: model.device };
  return { eigen: tensor(eigen, [L, H], dev), top1: tensor(top1, [L, H], dev), logitGain: tensor(gain, [L, H], dev), eigenvalues: eig, tokens: S };
}
