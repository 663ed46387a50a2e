/**
 * S5 SeerAttention's AttnGate, small: per (layer, head) a bilinear gate on block-pooled q (mean)
 * and k (mean ‖ max), softmax over the causal key blocks of each query block. It is distilled from
 * the dense model's block-pooled attention (the mass each query block puts on each key block), so
 * the gate predicts where the attention is; selecting its top-k / above-threshold blocks gives the
 * block-sparse mask. The paper's gate is a learned pooling + linear layers inside the LLM; ours
 * keeps that shape (pooled q/k -> linear -> block scores) with fixed pooling.
 */
import { AdamW, TensorError, logSoftmax, matmul, mul, mulScalar, add, neg, scope, sum, tensor, type Tensor } from '@attnlab/tensor';
import { maxPool, meanPool } from '../block-select/index.js';
import { gaussian, rng } from '../common/random.js';

export interface SeerGateShape {
  layers: number;
  heads: number;
  /** Head dim of q and k. */
  dHead: number;
  /** Gate projection width g. */
  hidden: number;
  blockSize: number;
}

/** Gate weights: wq [L·H, d, g], wk [L·H, 2d, g] (row-major). */
export interface SeerGate extends SeerGateShape {
  wq: Float32Array;
  wk: Float32Array;
}

function checkShape(s: SeerGateShape): void {
  for (const [n, x] of Object.entries(s)) if (!Number.isInteger(x) || (x as number) < 1) throw new TensorError('seerGate', `${n} must be a positive integer, got ${String(x)}`);
}

/** Block-pooled features of one head: pq [nQB, d] (mean), pk [nKB, 2d] (mean ‖ max). */
export function poolHead(q: ArrayLike<number>, k: ArrayLike<number>, nq: number, nk: number, d: number, block: number): { pq: Float64Array; pk: Float64Array } {
  const pq = meanPool(q, nq, d, block);
  const km = meanPool(k, nk, d, block);
  const kx = maxPool(k, nk, d, block);
  const nKB = Math.ceil(nk / block);
  const pk = new Float64Array(nKB * 2 * d);
  for (let b = 0; b < nKB; b++) {
    pk.set(km.subarray(b * d, (b + 1) * d), b * 2 * d);
    pk.set(kx.subarray(b * d, (b + 1) * d), b * 2 * d + d);
  }
  return { pq, pk };
}

/** Last key block query block qb may see (end-aligned causal). */
export function lastKeyBlock(qb: number, nq: number, nk: number, block: number): number {
  const lastRow = Math.min(nq - 1, (qb + 1) * block - 1);
  return Math.min(Math.ceil(nk / block) - 1, Math.floor((lastRow + nk - nq) / block));
}

/** Gate probabilities [nQB, nKB] of gate index gi for one head's q [nq, d], k [nk, d] (0 on non-causal blocks). */
export function gateProbs(gate: SeerGate, gi: number, q: ArrayLike<number>, k: ArrayLike<number>, nq: number, nk: number): Float64Array {
  const { dHead: d, hidden: g, blockSize: bs } = gate;
  const { pq, pk } = poolHead(q, k, nq, nk, d, bs);
  const nQB = Math.ceil(nq / bs);
  const nKB = Math.ceil(nk / bs);
  const wq = gate.wq.subarray(gi * d * g, (gi + 1) * d * g);
  const wk = gate.wk.subarray(gi * 2 * d * g, (gi + 1) * 2 * d * g);
  const proj = (x: Float64Array, rows: number, din: number, w: Float32Array): Float64Array => {
    const out = new Float64Array(rows * g);
    for (let r = 0; r < rows; r++) for (let e = 0; e < din; e++) {
      const xv = x[r * din + e]!;
      for (let c = 0; c < g; c++) out[r * g + c] += xv * w[e * g + c]!;
    }
    return out;
  };
  const a = proj(pq, nQB, d, wq);
  const b = proj(pk, nKB, 2 * d, wk);
  const out = new Float64Array(nQB * nKB);
  for (let qb = 0; qb < nQB; qb++) {
    const last = lastKeyBlock(qb, nq, nk, bs);
    if (last < 0) continue;
    let mx = -Infinity;
    for (let kb = 0; kb <= last; kb++) {
      let s = 0;
      for (let c = 0; c < g; c++) s += a[qb * g + c]! * b[kb * g + c]!;
      out[qb * nKB + kb] = s / Math.sqrt(g);
      mx = Math.max(mx, out[qb * nKB + kb]!);
    }
    let den = 0;
    for (let kb = 0; kb <= last; kb++) den += (out[qb * nKB + kb] = Math.exp(out[qb * nKB + kb]! - mx));
    for (let kb = 0; kb <= last; kb++) out[qb * nKB + kb]! /= den;
  }
  return out;
}

export interface BlockSelect {
  /** Keep each query block's k best key blocks (plus its diagonal block). */
  topK?: number;
  /** Keep key blocks whose score is >= threshold (plus the diagonal block). */
  threshold?: number;
}

/** 0/1 table [nQB, nKB] from block scores: the diagonal (last causal) block always, then top-k or threshold. */
export function selectBlocks(scores: ArrayLike<number>, nq: number, nk: number, block: number, sel: BlockSelect): Int32Array {
  if ((sel.topK === undefined) === (sel.threshold === undefined)) throw new TensorError('selectBlocks', 'give exactly one of topK and threshold');
  if (sel.topK !== undefined && !(Number.isInteger(sel.topK) && sel.topK >= 0)) throw new TensorError('selectBlocks', `topK must be a non-negative integer, got ${String(sel.topK)}`);
  const nQB = Math.ceil(nq / block);
  const nKB = Math.ceil(nk / block);
  const t = new Int32Array(nQB * nKB);
  for (let qb = 0; qb < nQB; qb++) {
    const last = lastKeyBlock(qb, nq, nk, block);
    if (last < 0) continue;
    t[qb * nKB + last] = 1;
    if (sel.threshold !== undefined) {
      for (let kb = 0; kb <= last; kb++) if (scores[qb * nKB + kb]! >= sel.threshold) t[qb * nKB + kb] = 1;
    } else {
      const idx = Array.from({ length: last + 1 }, (_, j) => j).sort((x, y) => scores[qb * nKB + y]! - scores[qb * nKB + x]! || x - y);
      for (const kb of idx.slice(0, sel.topK)) t[qb * nKB + kb] = 1;
    }
  }
  return t;
}

/** A gate with random weights (seeded), the starting point of distillation. */
export function initSeerGate(s: SeerGateShape, seed = 0): SeerGate {
  checkShape(s);
  const G = s.layers * s.heads;
  const r = rng(seed);
  const wq = gaussian(r, G * s.dHead * s.hidden).map((x) => x / Math.sqrt(s.dHead));
  const wk = gaussian(r, G * 2 * s.dHead * s.hidden).map((x) => x / Math.sqrt(2 * s.dHead));
  return { ...s, wq, wk };
}

/** One distillation example: a sequence's q/k of every gated (layer, head) and its dense block targets. */
export interface SeerSample {
  /** [G][nq·d] queries, [G][nk·d] keys, one array per gate index (layer·H + head). */
  q: Float32Array[];
  k: Float32Array[];
  /** [G][nQB·nKB] target distribution over key blocks per query block (rows sum to 1 over causal blocks). */
  target: Float64Array[];
  nq: number;
  nk: number;
}

/** Block-pooled attention targets [nQB, nKB] from one head's probabilities p [nq, nk]: row-averaged mass per tile. */
export function blockTargets(p: ArrayLike<number>, nq: number, nk: number, block: number): Float64Array {
  const nQB = Math.ceil(nq / block);
  const nKB = Math.ceil(nk / block);
  const t = new Float64Array(nQB * nKB);
  for (let i = 0; i < nq; i++) for (let j = 0; j < nk; j++) t[Math.floor(i / block) * nKB + Math.floor(j / block)] += p[i * nk + j]!;
  for (let qb = 0; qb < nQB; qb++) {
    let s = 0;
    for (let kb = 0; kb < nKB; kb++) s += t[qb * nKB + kb]!;
    if (s > 0) for (let kb = 0; kb < nKB; kb++) t[qb * nKB + kb]! /= s;
  }
  return t;
}

export interface DistillOptions {
  steps: number;
  lr?: number;
  seed?: number;
  /** Called every step with the loss (KL up to the targets' entropy). */
  onStep?: (step: number, loss: number) => void;
}

/**
 * Distil the gate on the samples (all of one length) with AdamW: minimise the cross-entropy of
 * the gate's block distribution against the dense block-pooled attention, over every gate at once.
 * Returns the trained gate and the per-step losses (KL divergence: cross-entropy minus target entropy).
 */
export async function distillSeerGate(gate: SeerGate, samples: readonly SeerSample[], o: DistillOptions): Promise<{ gate: SeerGate; losses: number[] }> {
  if (!samples.length) throw new TensorError('distillSeerGate', 'no samples');
  const { dHead: d, hidden: g, blockSize: bs } = gate;
  const G = gate.layers * gate.heads;
  const { nq, nk } = samples[0]!;
  const nQB = Math.ceil(nq / bs);
  const nKB = Math.ceil(nk / bs);
  const S = samples.length;
  const pq = new Float32Array(S * G * nQB * d);
  const pk = new Float32Array(S * G * nKB * 2 * d);
  const tg = new Float32Array(S * G * nQB * nKB);
  let entropy = 0;
  samples.forEach((s, si) => {
    if (s.nq !== nq || s.nk !== nk) throw new TensorError('distillSeerGate', `sample ${si} has nq=${s.nq}, nk=${s.nk}; sample 0 has ${nq}, ${nk}`);
    if (s.q.length !== G || s.k.length !== G || s.target.length !== G) throw new TensorError('distillSeerGate', `sample ${si} must hold ${G} heads (layers·heads) of q, k and target`);
    for (let gi = 0; gi < G; gi++) {
      const p = poolHead(s.q[gi]!, s.k[gi]!, nq, nk, d, bs);
      pq.set(p.pq, ((si * G + gi) * nQB) * d);
      pk.set(p.pk, ((si * G + gi) * nKB) * 2 * d);
      tg.set(s.target[gi]!, (si * G + gi) * nQB * nKB);
      for (const x of s.target[gi]!) if (x > 0) entropy -= x * Math.log(x);
    }
  });
  const rows = S * G * nQB;
  entropy /= rows;
  const bias = new Float32Array(nQB * nKB);
  for (let qb = 0; qb < nQB; qb++) for (let kb = lastKeyBlock(qb, nq, nk, bs) + 1; kb < nKB; kb++) bias[qb * nKB + kb] = -1e4;
  const wq = tensor(gate.wq, [G, d, g]).requireGrad();
  const wk = tensor(gate.wk, [G, 2 * d, g]).requireGrad();
  const PQ = tensor(pq, [S, G, nQB, d]);
  const PK = tensor(pk, [S, G, nKB, 2 * d]);
  const TG = tensor(tg, [S, G, nQB, nKB]);
  const BIAS = tensor(bias, [nQB, nKB]);
  const opt = new AdamW([wq, wk], { lr: o.lr ?? 1e-2, weightDecay: 0 });
  const losses: number[] = [];
  for (let step = 0; step < o.steps; step++) {
    // Forward, backward and update in one scope (the graph's intermediates live until backward ran).
    const ce = await scope(async () => {
      const a = matmul(PQ, wq);
      const b = matmul(PK, wk);
      const logits = add(mulScalar(matmul(a, b, { transB: true }), 1 / Math.sqrt(g)), BIAS);
      const loss = mulScalar(neg(sum(mul(TG, logSoftmax(logits, -1)))), 1 / rows);
      loss.backward();
      opt.step();
      opt.zeroGrad();
      return loss.item();
    });
    const l = ce - entropy;
    losses.push(l);
    o.onStep?.(step, l);
  }
  const out: SeerGate = { ...gate, wq: Float32Array.from((await wq.data()) as Float32Array), wk: Float32Array.from((await wk.data()) as Float32Array) };
  for (const t of [wq, wk, PQ, PK, TG, BIAS]) t.dispose();
  return { gate: out, losses };
}
