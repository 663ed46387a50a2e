/**
 * L1 Lightning Attention-2: causal linear attention with a per-head decay lambda, computed three
 * ways by @attnlab/attention's linearAttention (identity feature map): 'parallel' (masked
 * ((QK^T) . D) V), 'recurrent' (state S_t) and 'chunk' (intra-block masked parallel + inter-block
 * state, block size B). This file fixes the paper's parameterisation on top of that mechanism.
 */
import { linearAttention, type LinearAttentionResult } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';

export type LightningMode = 'parallel' | 'recurrent' | 'chunk';

export interface LightningOptions {
  /** lambda in (0, 1]: one number, or one per head. Default 1 (plain causal linear attention). */
  decay?: number | readonly number[];
  /** Default 'chunk' (Lightning Attention-2). */
  mode?: LightningMode;
  /** Block size B of the chunk form (default 64). */
  blockSize?: number;
  /** Default 1/sqrt(D). */
  scale?: number;
  /** [B, H, D, Dv] state carried in (decode, or a sequence split across calls). */
  initialState?: Tensor | null;
  outputFinalState?: boolean;
}

const MODES: readonly LightningMode[] = ['parallel', 'recurrent', 'chunk'];

/** Per-head decays as an array of H, checked (the error names the head). */
export function decayPerHead(decay: number | readonly number[] | undefined, H: number, op = 'lightning'): number[] {
  const d = decay ?? 1;
  const a = typeof d === 'number' ? Array.from({ length: H }, () => d) : Array.from(d);
  if (a.length !== H) throw new TensorError(op, `decay has ${a.length} entries for ${H} heads`);
  a.forEach((l, h) => {
    if (typeof l !== 'number' || !(l > 0 && l <= 1)) throw new TensorError(op, `decay of head ${h} must be in (0, 1], got ${String(l)}`);
  });
  return a;
}

/**
 * TransNormerLLM's decay schedule: lambda_h = exp(-(8 h / H) (1 - l / L)) for head h < H of layer
 * l < L (h counted from 0, so head 0 has no decay; the last layer's lambda approaches 1).
 */
export function tnlDecay(H: number, layer: number, nLayers: number): number[] {
  if (!Number.isInteger(H) || H < 1) throw new TensorError('tnlDecay', `H must be a positive integer, got ${H}`);
  if (!Number.isInteger(nLayers) || nLayers < 1) throw new TensorError('tnlDecay', `nLayers must be a positive integer, got ${nLayers}`);
  if (!Number.isInteger(layer) || layer < 0 || layer >= nLayers) throw new TensorError('tnlDecay', `layer must be an integer in [0, ${nLayers}), got ${layer}`);
  return Array.from({ length: H }, (_, h) => Math.exp(-((8 * h) / H) * (1 - layer / nLayers)));
}

/** Lightning attention: out [B, H, N, Dv] (and the final state [B, H, D, Dv] when asked). */
export async function lightningAttention(q: Tensor, k: Tensor, v: Tensor, o: LightningOptions = {}): Promise<LinearAttentionResult> {
  const op = 'lightningAttention';
  if (q.rank !== 4) throw new TensorError(op, `q must be [B, H, N, D], got [${q.shape.join(', ')}]`);
  const mode = o.mode ?? 'chunk';
  if (!MODES.includes(mode)) throw new TensorError(op, `mode must be one of ${MODES.join(', ')}, got '${String(mode)}'`);
  const B = o.blockSize ?? 64;
  if (!Number.isInteger(B) || B < 1) throw new TensorError(op, `blockSize must be a positive integer, got ${String(B)}`);
  const decay = decayPerHead(o.decay, q.shape[1]!, op);
  return linearAttention(q, k, v, {
    featureMap: 'identity', mode, chunkSize: B, decay,
    ...(o.scale !== undefined ? { scale: o.scale } : {}),
    ...(o.initialState ? { initialState: o.initialState } : {}),
    ...(o.outputFinalState ? { outputFinalState: true } : {}),
  });
}
