/**
 * L6 RAT as tensor ops (CPU and WebGPU, differentiable): the within-chunk gated recurrence of keys
 * and values is a product with a per-head L x L lower-triangular matrix applied chunk by chunk
 * (memory O(N L), not O(N^2)), and the attention across chunks is the library's flash attention
 * with a mask that keeps, for query t, every earlier chunk's last position and t itself. The
 * recurrence's end-of-chunk state is then exactly that chunk's summary key/value.
 */
import { attention, maskMod, type MaskMod } from '@attnlab/attention';
import { TensorError, concat, matmul, reshape, slice, tensor, zeros, type Tensor } from '@attnlab/tensor';

export interface RatOptions {
  /** Chunk length L >= 1 (L = 1: softmax attention; L >= N: the gated RNN). */
  chunkSize: number;
  /** Gate a in [0, 1) per head, or one for all heads (default 0.5). */
  decay?: number | readonly number[];
  /** Score scale (default 1/sqrt(D)). */
  scale?: number;
}

export interface RatResult {
  /** [B, H, Nq, Dv] */
  out: Tensor;
  /** Keys each query attends to (earlier chunk summaries + its own state), per query row. */
  keysPerQuery: number[];
}

/** Gate per head, checked. */
export function ratDecay(decay: RatOptions['decay'], H: number, op = 'rat'): number[] {
  const d = decay ?? 0.5;
  const arr = typeof d === 'number' ? new Array<number>(H).fill(d) : Array.from(d);
  if (arr.length !== H) throw new TensorError(op, `decay has ${arr.length} entries for ${H} heads`);
  for (const a of arr) if (!(Number.isFinite(a) && a >= 0 && a < 1)) throw new TensorError(op, `decay must be in [0, 1), got ${a}`);
  return arr;
}

export function checkChunkSize(L: unknown, op = 'rat'): number {
  if (typeof L !== 'number' || !Number.isInteger(L) || L < 1) throw new TensorError(op, `chunkSize must be a positive integer, got ${String(L)}`);
  return L;
}

/** [H, L, L]: M[t, s] = a^(t-s) for s = 0, (1 - a) a^(t-s) for 0 < s <= t, 0 above the diagonal. */
function recurrenceMatrix(decay: number[], L: number): Float32Array {
  const m = new Float32Array(decay.length * L * L);
  decay.forEach((a, h) => {
    for (let t = 0; t < L; t++) for (let s = 0; s <= t; s++) m[(h * L + t) * L + s] = (s === 0 ? 1 : 1 - a) * Math.pow(a, t - s);
  });
  return m;
}

/** x~ = the within-chunk recurrence of x [B, H, N, W] (padded to a multiple of L, then cut back). */
export function chunkRecurrence(x: Tensor, decay: number[], L: number): Tensor {
  const [B, H, N, W] = x.shape as [number, number, number, number];
  const C = Math.ceil(N / L);
  const pad = C * L - N;
  const xp = pad > 0 ? concat([x, zeros([B, H, pad, W], { device: x.device })], 2) : x;
  const M = tensor(recurrenceMatrix(decay, L), [1, H, 1, L, L], { device: x.device });
  const y = reshape(matmul(M, reshape(xp, [B, H, C, L, W])), [B, H, C * L, W]);
  return pad > 0 ? slice(y, [0, 0, 0, 0], [B, H, N, W]) : y;
}

const masks = new Map<number, MaskMod>();
/** Query t (end-aligned when Nq < Nk) keeps key t and the last key of every chunk before t's chunk. */
export function ratMask(L: number): MaskMod {
  let m = masks.get(L);
  if (!m) {
    m = maskMod((b, h, q, k) => k === q || (k < q - (q % L) && k % L === L - 1), { captures: { L }, align: 'end', name: `rat(${L})` });
    masks.set(L, m);
  }
  return m;
}

/**
 * RAT over q [B, H, Nq, D], k [B, H, Nk, D], v [B, H, Nk, Dv] (Nq <= Nk: queries are the last Nq
 * positions, as in a decode step that passes all keys so far).
 */
export async function ratAttention(q: Tensor, k: Tensor, v: Tensor, o: RatOptions): Promise<RatResult> {
  const op = 'rat';
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new TensorError(op, `q, k, v must be [B, H, N, D], got ranks ${q.rank}, ${k.rank}, ${v.rank}`);
  const [B, H, Nq, D] = q.shape as [number, number, number, number];
  const [Bk, Hk, Nk, Dk] = k.shape as [number, number, number, number];
  if (Bk !== B || Hk !== H || Dk !== D) throw new TensorError(op, `k [${k.shape.join(', ')}] does not match q [${q.shape.join(', ')}]`);
  if (v.shape[0] !== B || v.shape[1] !== H || v.shape[2] !== Nk) throw new TensorError(op, `v [${v.shape.join(', ')}] does not match k [${k.shape.join(', ')}]`);
  if (Nq > Nk) throw new TensorError(op, `q has ${Nq} rows but only ${Nk} keys`);
  const L = checkChunkSize(o.chunkSize, op);
  const decay = ratDecay(o.decay, H, op);
  const kt = chunkRecurrence(k, decay, L);
  const vt = chunkRecurrence(v, decay, L);
  const r = await attention(q, kt, vt, { mask: ratMask(L), scale: o.scale ?? 1 / Math.sqrt(D) });
  const keysPerQuery = Array.from({ length: Nq }, (_, i) => {
    const t = Nk - Nq + i;
    return Math.floor(t / L) + 1;
  });
  return { out: r.out, keysPerQuery };
}

/** Attention FLOPs per head (scores + weighted sum) of RAT at length N: sum over t of keys seen times (D + Dv), plus the recurrence. */
export function ratFlops(N: number, L: number, D: number, Dv: number): number {
  let keys = 0;
  for (let t = 0; t < N; t++) keys += Math.floor(t / L) + 1;
  return 2 * keys * (D + Dv) + 3 * N * (D + Dv);
}

/** Bytes a decoder holds at length N (float32): one summary key/value per finished chunk plus the running state. */
export function ratStateBytes(N: number, L: number, D: number, Dv: number): number {
  return 4 * (Math.floor(N / L) + 1) * (D + Dv);
}
