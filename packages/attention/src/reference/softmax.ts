/**
 * Float64 CPU reference for softmax and sigmoid attention (forward and backward). Plain loops,
 * no tiling, the full score row materialised: slow and obviously correct, used to judge the
 * fast CPU and WebGPU paths.
 *
 * Special values, as PyTorch's attention: a masked key or a score of -Infinity has weight 0 and
 * its value row is not read; a NaN score makes the row's weights, out and lse NaN; under
 * softmax a +Infinity score makes the weights and out NaN (inf / inf) and lse +Infinity (as
 * torch.logsumexp); a row with nothing left has out 0 and lse -Infinity (FlexAttention).
 */
import type { MaskMod, ScoreMod } from '../mods/mods.js';

export interface AttnDims {
  B: number;
  Hq: number;
  Hkv: number;
  Nq: number;
  Nk: number;
  D: number;
  /** Value head dim (defaults to D). */
  Dv?: number;
}

export interface AttnRefOptions {
  scale?: number;
  mask?: MaskMod | null;
  scoreMod?: ScoreMod | null;
  normalize?: 'softmax' | 'sigmoid';
  /** Added to scores before the sigmoid; default -log(Nk). */
  sigmoidBias?: number;
  /** Per query head multiplier on the output. */
  headGate?: ArrayLike<number> | null;
}

export interface AttnRefResult {
  /** [B, Hq, Nq, Dv] */
  out: Float64Array;
  /** [B, Hq, Nq]: log-sum-exp of the (modified) scores; for sigmoid, log of the row's total weight. */
  lse: Float64Array;
}

export interface AttnRefGrads {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  /** d/d headGate[h] (zeros when no gate). */
  dGate: Float64Array;
  /** d/d sigmoidBias (0 for softmax). */
  dBias: number;
}

interface Row {
  /** Modified scores (or -Infinity where masked). */
  s: Float64Array;
  /** Raw scaled scores. */
  raw: Float64Array;
  keep: Uint8Array;
}

function scoresRow(q: ArrayLike<number>, k: ArrayLike<number>, dims: AttnDims, b: number, h: number, i: number, opts: AttnRefOptions, scale: number): Row {
  const { Hq, Hkv, Nq, Nk, D } = dims;
  const g = Hq / Hkv;
  const hk = Math.floor(h / g);
  const qo = ((b * Hq + h) * Nq + i) * D;
  const maskF = opts.mask ? opts.mask.evaluator(Nq, Nk) : null;
  const modF = opts.scoreMod ? opts.scoreMod.evaluators(Nq, Nk)[0] : null;
  const s = new Float64Array(Nk);
  const raw = new Float64Array(Nk);
  const keep = new Uint8Array(Nk);
  for (let j = 0; j < Nk; j++) {
    if (maskF && !maskF(b, h, i, j)) {
      s[j] = -Infinity;
      continue;
    }
    keep[j] = 1;
    const ko = ((b * Hkv + hk) * Nk + j) * D;
    let acc = 0;
    for (let d = 0; d < D; d++) acc += q[qo + d]! * k[ko + d]!;
    raw[j] = acc * scale;
    s[j] = modF ? modF(raw[j]!, b, h, i, j) : raw[j]!;
  }
  return { s, raw, keep };
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Attention weights of one row: softmax (with lse) or sigmoid (with log of the total weight). */
function weights(row: Row, opts: AttnRefOptions, nk: number): { p: Float64Array; lse: number } {
  const p = new Float64Array(nk);
  if ((opts.normalize ?? 'softmax') === 'sigmoid') {
    const bias = opts.sigmoidBias ?? -Math.log(nk);
    let sum = 0;
    for (let j = 0; j < nk; j++) {
      if (!row.keep[j]) continue;
      p[j] = sigmoid(row.s[j]! + bias);
      sum += p[j]!;
    }
    return { p, lse: sum > 0 ? Math.log(sum) : -Infinity };
  }
  let m = -Infinity;
  let nan = false;
  for (let j = 0; j < nk; j++) {
    if (!row.keep[j]) continue;
    const s = row.s[j]!;
    if (Number.isNaN(s)) nan = true;
    else if (s > m) m = s;
  }
  if (nan || m === Infinity) {
    for (let i = 0; i < nk; i++) if (row.keep[i]) p[i] = NaN;
    return { p, lse: nan ? NaN : Infinity };
  }
  if (m === -Infinity) return { p, lse: -Infinity };
  let sum = 0;
  for (let j = 0; j < nk; j++) {
    if (!row.keep[j]) continue;
    p[j] = Math.exp(row.s[j]! - m);
    sum += p[j]!;
  }
  for (let j = 0; j < nk; j++) p[j]! /= sum;
  return { p, lse: m + Math.log(sum) };
}

export function checkRefDims(dims: AttnDims): void {
  const { B, Hq, Hkv, Nq, Nk, D } = dims;
  for (const [n, v] of Object.entries({ B, Hq, Hkv, Nq, Nk, D })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`attention reference: ${n} must be a positive integer, got ${v}`);
  }
  if (Hq % Hkv !== 0) throw new Error(`attention reference: Hq = ${Hq} is not a multiple of Hkv = ${Hkv}`);
}

export function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dims: AttnDims, opts: AttnRefOptions = {}): AttnRefResult {
  checkRefDims(dims);
  const { B, Hq, Hkv, Nq, Nk, D } = dims;
  const Dv = dims.Dv ?? D;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const g = Hq / Hkv;
  const out = new Float64Array(B * Hq * Nq * Dv);
  const lse = new Float64Array(B * Hq * Nq);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / g);
      const gate = opts.headGate ? opts.headGate[h]! : 1;
      for (let i = 0; i < Nq; i++) {
        const row = scoresRow(q, k, dims, b, h, i, opts, scale);
        const { p, lse: l } = weights(row, opts, Nk);
        const r = (b * Hq + h) * Nq + i;
        lse[r] = l;
        for (let j = 0; j < Nk; j++) {
          if (!row.keep[j] || row.s[j] === -Infinity) continue;
          const pj = p[j]!;
          const vo = ((b * Hkv + hk) * Nk + j) * Dv;
          for (let d = 0; d < Dv; d++) out[r * Dv + d]! += pj * v[vo + d]!;
        }
        if (gate !== 1) for (let d = 0; d < Dv; d++) out[r * Dv + d]! *= gate;
      }
    }
  }
  return { out, lse };
}

/** Probabilities [Nq, Nk] of one (b, h) recomputed from scratch (softmax or sigmoid weights). */
export function attentionProbsRef(q: ArrayLike<number>, k: ArrayLike<number>, dims: AttnDims, b: number, h: number, opts: AttnRefOptions = {}): Float64Array {
  const scale = opts.scale ?? 1 / Math.sqrt(dims.D);
  const out = new Float64Array(dims.Nq * dims.Nk);
  for (let i = 0; i < dims.Nq; i++) out.set(weights(scoresRow(q, k, dims, b, h, i, opts, scale), opts, dims.Nk).p, i * dims.Nk);
  return out;
}

/**
 * Gradients of L = <dOut, out> + <dLse, lse> with respect to q, k, v (and the head gate and sigmoid bias).
 * `dLse` may be null (lse unused downstream).
 */
export function attentionRefBackward(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dOut: ArrayLike<number>, dLse: ArrayLike<number> | null,
  dims: AttnDims, opts: AttnRefOptions = {},
): AttnRefGrads {
  checkRefDims(dims);
  const { B, Hq, Hkv, Nq, Nk, D } = dims;
  const Dv = dims.Dv ?? D;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const g = Hq / Hkv;
  const sig = (opts.normalize ?? 'softmax') === 'sigmoid';
  const dmod = opts.scoreMod ? opts.scoreMod.evaluators(Nq, Nk)[1] : null;
  const dq = new Float64Array(B * Hq * Nq * D);
  const dk = new Float64Array(B * Hkv * Nk * D);
  const dv = new Float64Array(B * Hkv * Nk * Dv);
  const dGate = new Float64Array(Hq);
  let dBias = 0;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / g);
      const gate = opts.headGate ? opts.headGate[h]! : 1;
      for (let i = 0; i < Nq; i++) {
        const row = scoresRow(q, k, dims, b, h, i, opts, scale);
        const { p, lse } = weights(row, opts, Nk);
        if (lse === -Infinity) continue;
        const r = (b * Hq + h) * Nq + i;
        // Output before the gate, and the gated upstream gradient.
        const o = new Float64Array(Dv);
        for (let j = 0; j < Nk; j++) {
          if (!row.keep[j] || row.s[j] === -Infinity) continue;
          const vo = ((b * Hkv + hk) * Nk + j) * Dv;
          for (let d = 0; d < Dv; d++) o[d]! += p[j]! * v[vo + d]!;
        }
        const dO = new Float64Array(Dv);
        let gateGrad = 0;
        for (let d = 0; d < Dv; d++) {
          dO[d] = dOut[r * Dv + d]! * gate;
          gateGrad += dOut[r * Dv + d]! * o[d]!;
        }
        dGate[h]! += gateGrad;
        let delta = 0;
        for (let d = 0; d < Dv; d++) delta += dO[d]! * o[d]!;
        const dl = dLse ? dLse[r]! : 0;
        const rowSum = Math.exp(lse);
        for (let j = 0; j < Nk; j++) {
          if (!row.keep[j] || row.s[j] === -Infinity) continue;
          const pj = p[j]!;
          const vo = ((b * Hkv + hk) * Nk + j) * Dv;
          let dp = 0;
          for (let d = 0; d < Dv; d++) {
            dp += dO[d]! * v[vo + d]!;
            dv[vo + d]! += pj * dO[d]!;
          }
          let dsMod: number;
          if (sig) {
            // out = sum_j p_j v_j, lse = log(sum_j p_j), p = sigmoid(s' + bias)
            const dpTot = dp + dl / rowSum;
            dsMod = dpTot * pj * (1 - pj);
            dBias += dsMod;
          } else {
            dsMod = pj * (dp - delta + dl);
          }
          const ds = dmod ? dsMod * dmod(row.raw[j]!, b, h, i, j) : dsMod;
          const ko = ((b * Hkv + hk) * Nk + j) * D;
          const qo = r * D;
          for (let d = 0; d < D; d++) {
            dq[qo + d]! += scale * ds * k[ko + d]!;
            dk[ko + d]! += scale * ds * q[qo + d]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv, dGate, dBias };
}
