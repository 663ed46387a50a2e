/**
 * What the block-selecting variants share: read q/k of every (b, h) on the host, let the method
 * choose a tile table (or a per-row table) for each, then run exact attention through a BlockMask of
 * that selection on q's device. The model's effective mask (causal AND user) is ANDed in.
 */
import type { AttentionContext, MaskMod, VariantResult } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';
import { blockTableMask, maskedBlockAttention, rowTableMask, type TableShape } from './index.js';

export interface HeadView {
  b: number;
  /** Head index within this call (0..H-1) and the model's head it is (ctx.heads). */
  h: number;
  modelHead: number;
  q: Float32Array;
  k: Float32Array;
  nq: number;
  nk: number;
  d: number;
}

function checkCtx(name: string, q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): void {
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new TensorError(name, `q, k, v must be [B, H, N, D], got ranks ${q.rank}, ${k.rank}, ${v.rank}`);
  if (k.shape[1] !== q.shape[1]) throw new TensorError(name, `q has ${q.shape[1]} heads and k ${k.shape[1]}; grouped heads are not supported`);
  if (ctx.mask && ctx.mask.kind === 'blockMask') throw new TensorError(name, 'pass a MaskMod, not a BlockMask, to combine with the selection');
  if (ctx.scoreMod) throw new TensorError(name, 'a scoreMod is not supported');
  if (ctx.returnProbs || ctx.returnScores) throw new TensorError(name, 'returnProbs/returnScores are not available from this variant');
}

async function heads(q: Tensor, k: Tensor, ctx: AttentionContext): Promise<HeadView[]> {
  const [B, H, nq, d] = q.shape as [number, number, number, number];
  const nk = k.shape[2]!;
  const [qa, ka] = (await Promise.all([q.data(), k.data()])) as [Float32Array, Float32Array];
  const out: HeadView[] = [];
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const i = b * H + h;
    out.push({ b, h, modelHead: ctx.heads?.[h] ?? h, q: qa.subarray(i * nq * d, (i + 1) * nq * d), k: ka.subarray(i * nk * d, (i + 1) * nk * d), nq, nk, d });
  }
  return out;
}

/** Tile-table variants (Seer, FlexPrefill): `choose` returns a [nQB·nKB] 0/1 table per head. */
export async function runTileTable(
  name: string, q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext, block: number, choose: (x: HeadView) => Int32Array,
): Promise<VariantResult & { density: number }> {
  checkCtx(name, q, k, v, ctx);
  const [B, H, Nq] = q.shape as [number, number, number];
  const s: TableShape = { B, H, Nq, Nk: k.shape[2]!, qBlock: block, kBlock: block };
  const per = Math.ceil(s.Nq / block) * Math.ceil(s.Nk / block);
  const table = new Int32Array(B * H * per);
  for (const x of await heads(q, k, ctx)) {
    const t = choose(x);
    if (t.length !== per) throw new TensorError(name, `head ${x.h}: table of ${t.length} tiles, expected ${per}`);
    table.set(t, (x.b * H + x.h) * per);
  }
  const r = await maskedBlockAttention(q, k, v, blockTableMask(table, s), { scale: ctx.scale, extra: ctx.mask as MaskMod | null, blockSize: block });
  return { out: r.out, lse: r.lse, density: r.density };
}

/** Per-row variants (Landmark): `choose` returns a [nq·nKB] 0/1 table of key blocks per query row. */
export async function runRowTable(
  name: string, q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext, block: number, local: number, choose: (x: HeadView) => Int32Array,
): Promise<VariantResult> {
  checkCtx(name, q, k, v, ctx);
  const [B, H, Nq] = q.shape as [number, number, number];
  const s: TableShape = { B, H, Nq, Nk: k.shape[2]!, qBlock: block, kBlock: block };
  const per = Nq * Math.ceil(s.Nk / block);
  const rows = new Int32Array(B * H * per);
  for (const x of await heads(q, k, ctx)) {
    const t = choose(x);
    if (t.length !== per) throw new TensorError(name, `head ${x.h}: table of ${t.length} entries, expected nq·nKB = ${per}`);
    rows.set(t, (x.b * H + x.h) * per);
  }
  const r = await maskedBlockAttention(q, k, v, rowTableMask(rows, s, local), { scale: ctx.scale, extra: ctx.mask as MaskMod | null });
  return { out: r.out, lse: r.lse };
}
