/**
 * S3 Landmark attention with trained landmark tokens (the paper's grouped softmax). The sequence
 * holds a LANDMARK token at the last position of each block of B positions (`landmarks`: 1 there).
 * Query i, in block c(i), attends directly to the keys of its own block (j ≤ i) and to the landmark
 * tokens of earlier blocks, in one softmax (P); a landmark's weight is then spread over its block's
 * other tokens by a softmax within that block:
 *   w_ij = P_ij                                   for j in block c(i)
 *   w_ij = P_{i,λ(b)} · softmax_{j'∈b, j'≠λ(b)}(s_ij')_j   for j in an earlier block b
 * so the landmark's key learns to stand for its block. With `topK`, only the k earlier landmarks with
 * the highest scores enter P (retrieval at inference: k blocks plus the query's own block are read).
 * Dense tensor ops with autograd, so a model trains through it; N must be a multiple of B.
 */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { add, matmul, mul, mulScalar, reshape, slice, softmax, tensor, TensorError, type Tensor } from '@attnlab/tensor';

export interface GroupedOptions {
  blockSize: number;
  /** 1 at landmark positions, length >= N (positions are the key indices 0..N-1). */
  landmarks: Uint8Array | Int32Array;
  /** Earlier blocks read per query (default: all). */
  topK?: number;
}

const NEG = -1e9;

/** Host-side masks for rows/keys of one sequence: outer (own block ∪ eligible landmarks) and members (tokens of eligible blocks). */
export function groupedMasks(N: number, bs: number, landmarks: ArrayLike<number>, chosen?: (i: number) => ReadonlySet<number>): { outer: Float32Array; member: Float32Array; direct: Float32Array } {
  const outer = new Float32Array(N * N).fill(NEG);
  const member = new Float32Array(N * N).fill(NEG);
  const direct = new Float32Array(N * N);
  for (let i = 0; i < N; i++) {
    const c = Math.floor(i / bs);
    for (let j = c * bs; j <= i; j++) {
      outer[i * N + j] = 0;
      direct[i * N + j] = 1;
    }
    const pick = chosen?.(i);
    for (let b = 0; b < c; b++) {
      const lam = b * bs + bs - 1;
      if (!landmarks[lam] || (pick && !pick.has(b))) continue;
      outer[i * N + lam] = 0;
      for (let j = b * bs; j < lam; j++) member[i * N + j] = 0;
    }
  }
  return { outer, member, direct };
}

export function checkGrouped(N: number, o: GroupedOptions): void {
  if (!Number.isInteger(o.blockSize) || o.blockSize < 2) throw new TensorError('landmark-grouped', `blockSize must be an integer >= 2, got ${String(o.blockSize)}`);
  if (N % o.blockSize !== 0) throw new TensorError('landmark-grouped', `sequence length ${N} is not a multiple of blockSize ${o.blockSize}`);
  if (!(o.landmarks instanceof Uint8Array || o.landmarks instanceof Int32Array) || o.landmarks.length < N) throw new TensorError('landmark-grouped', `landmarks must be a Uint8Array or Int32Array of length >= ${N}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw new TensorError('landmark-grouped', `topK must be a non-negative integer, got ${String(o.topK)}`);
}

/** Grouped-softmax landmark attention of q, k, v [B, H, N, D] (causal, self-attention); out [B, H, N, Dv]. */
export async function groupedLandmarkAttention(q: Tensor, k: Tensor, v: Tensor, o: GroupedOptions, scale = 1 / Math.sqrt(q.shape[3]!)): Promise<{ out: Tensor; weights: Tensor }> {
  const [B, H, N] = q.shape as [number, number, number];
  if (k.shape[2] !== N) throw new TensorError('landmark-grouped', `needs the whole sequence (Nq = Nk), got ${N} and ${k.shape[2]}`);
  checkGrouped(N, o);
  const bs = o.blockSize;
  const nb = N / bs;
  const dev = q.device;
  const s = mulScalar(matmul(q, k, { transB: true }), scale);
  let outerBias: Tensor;
  let memberBias: Tensor;
  let direct: Tensor;
  let members: Tensor;
  const ones = (bias: Float32Array): Float32Array => bias.map((x) => (x === 0 ? 1 : 0));
  if (o.topK === undefined) {
    const m = groupedMasks(N, bs, o.landmarks);
    outerBias = tensor(m.outer, [N, N], { device: dev });
    memberBias = tensor(m.member, [N, N], { device: dev });
    direct = tensor(m.direct, [N, N], { device: dev });
    members = tensor(ones(m.member), [N, N], { device: dev });
  } else {
    // Retrieval: per (b, h, row) the top-k earlier landmarks by score (a host-side, non-differentiable choice).
    const sa = (await s.data()) as Float32Array;
    const outer = new Float32Array(B * H * N * N);
    const member = new Float32Array(B * H * N * N);
    const dir = new Float32Array(B * H * N * N);
    for (let bh = 0; bh < B * H; bh++) {
      const chosen = (i: number): Set<number> => {
        const c = Math.floor(i / bs);
        const cand: { b: number; x: number }[] = [];
        for (let b = 0; b < c; b++) if (o.landmarks[b * bs + bs - 1]) cand.push({ b, x: sa[bh * N * N + i * N + b * bs + bs - 1]! });
        cand.sort((a, z) => z.x - a.x || a.b - z.b);
        return new Set(cand.slice(0, o.topK).map((e) => e.b));
      };
      const m = groupedMasks(N, bs, o.landmarks, chosen);
      outer.set(m.outer, bh * N * N);
      member.set(m.member, bh * N * N);
      dir.set(m.direct, bh * N * N);
    }
    outerBias = tensor(outer, [B, H, N, N], { device: dev });
    memberBias = tensor(member, [B, H, N, N], { device: dev });
    direct = tensor(dir, [B, H, N, N], { device: dev });
    members = tensor(ones(member), [B, H, N, N], { device: dev });
  }
  const p = softmax(add(s, outerBias), -1); // [B, H, N, N]
  const inner = softmax(reshape(add(s, memberBias), [B, H, N, nb, bs]), -1);
  const gate = slice(reshape(p, [B, H, N, nb, bs]), [0, 0, 0, 0, bs - 1], [B, H, N, nb, 1]);
  // Only members of eligible blocks take a share of their landmark's weight (the query's own block is direct).
  const w = add(mul(p, direct), mul(reshape(mul(inner, gate), [B, H, N, N]), members));
  return { out: matmul(w, v), weights: w };
}

export const landmarkGroupedVariant: AttentionVariant = {
  name: 'landmark-grouped',
  description: 'S3 Landmark attention with landmark tokens: grouped softmax (own block + earlier landmarks, landmark weight spread over its block); options blockSize, landmarks, topK',
  optionNames: ['blockSize', 'landmarks', 'topK'],
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    if (ctx.mask && !('isNamed' in ctx.mask && ctx.mask.isNamed && ctx.mask.name === 'causal')) throw new TensorError('landmark-grouped', 'only the plain causal mask is supported (the grouping is causal)');
    if (ctx.scoreMod) throw new TensorError('landmark-grouped', 'a scoreMod is not supported');
    if (k.shape[1] !== q.shape[1]) throw new TensorError('landmark-grouped', 'grouped heads are not supported');
    const o = { blockSize: ctx.options['blockSize'] as number, landmarks: ctx.options['landmarks'] as Uint8Array, ...(ctx.options['topK'] !== undefined ? { topK: ctx.options['topK'] as number } : {}) };
    const r = await groupedLandmarkAttention(q, k, v, o, ctx.scale);
    return ctx.returnProbs ? { out: r.out, probs: r.weights } : { out: r.out };
  },
};
