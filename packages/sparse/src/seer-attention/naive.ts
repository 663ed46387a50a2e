/**
 * Float64 reference for SeerAttention, written out loop by loop apart from gate.ts: pooled
 * features, gate scores, the selected tiles and softmax attention restricted to them.
 */
import type { SeerGate } from './gate.js';

/** Gate scores of one head straight from the definition: softmax over causal key blocks of (mean q W_q)·((mean k ‖ max k) W_k)/√g. */
export function naiveGateProbs(gate: SeerGate, gi: number, q: ArrayLike<number>, k: ArrayLike<number>, nq: number, nk: number): number[][] {
  const { dHead: d, hidden: g, blockSize: bs } = gate;
  const nQB = Math.ceil(nq / bs);
  const nKB = Math.ceil(nk / bs);
  const feat = (x: ArrayLike<number>, r0: number, r1: number, kind: 'mean' | 'max'): number[] => Array.from({ length: d }, (_, e) => {
    let acc = kind === 'mean' ? 0 : -Infinity;
    for (let r = r0; r < r1; r++) acc = kind === 'mean' ? acc + x[r * d + e]! : Math.max(acc, x[r * d + e]!);
    return kind === 'mean' ? acc / (r1 - r0) : acc;
  });
  const project = (f: number[], w: Float32Array, base: number): number[] => Array.from({ length: g }, (_, c) => f.reduce((s, x, e) => s + x * w[base + e * g + c]!, 0));
  const rows: number[][] = [];
  for (let qb = 0; qb < nQB; qb++) {
    const a = project(feat(q, qb * bs, Math.min(nq, qb * bs + bs), 'mean'), gate.wq, gi * d * g);
    const lastRow = Math.min(nq - 1, qb * bs + bs - 1) + nk - nq;
    const scores: number[] = [];
    for (let kb = 0; kb < nKB && kb * bs <= lastRow; kb++) {
      const f = [...feat(k, kb * bs, Math.min(nk, kb * bs + bs), 'mean'), ...feat(k, kb * bs, Math.min(nk, kb * bs + bs), 'max')];
      const b = project(f, gate.wk, gi * 2 * d * g);
      scores.push(a.reduce((s, x, c) => s + x * b[c]!, 0) / Math.sqrt(g));
    }
    const mx = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - mx));
    const z = e.reduce((s, x) => s + x, 0);
    rows.push(Array.from({ length: nKB }, (_, kb) => (kb < e.length ? e[kb]! / z : 0)));
  }
  return rows;
}

/** The diagonal block plus the k highest-scoring causal blocks of each query block, as a keep predicate. */
export function naiveTopKKeep(scores: number[][], nq: number, nk: number, bs: number, topK: number): (q: number, k: number) => boolean {
  const keep = scores.map((row, qb) => {
    const lastRow = Math.min(nq - 1, qb * bs + bs - 1) + nk - nq;
    const n = Math.min(row.length, Math.floor(lastRow / bs) + 1);
    const order = Array.from({ length: n }, (_, j) => j).sort((x, y) => row[y]! - row[x]! || x - y);
    return new Set([n - 1, ...order.slice(0, topK)]);
  });
  return (q, k) => k <= q + nk - nq && keep[Math.floor(q / bs)]!.has(Math.floor(k / bs));
}
