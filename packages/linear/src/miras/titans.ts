/**
 * Titans' neural long-term memory as a preset of testTimeMemory: a deep (MLP) memory, L2
 * attentional bias, momentum "surprise" S_t = eta S_{t-1} - theta grad l(M_{t-1}; x_t) and
 * forgetting M_t = (1 - alpha) M_{t-1} + S_t (Titans' update rule, as the paper states it).
 */
import type { Tensor } from '@attnlab/tensor';
import { testTimeMemory, type Gate, type MemoryOptions, type MemoryResult } from './memory.js';

export interface TitansOptions extends Omit<MemoryOptions, 'memory' | 'bias' | 'momentum' | 'lr'> {
  /** theta_t. */
  lr: Gate;
  /** eta_t (default 0.9). */
  momentum?: Gate;
  /** Dh (default 4 Dk). */
  hidden?: number;
}

export function titansMemory(q: Tensor, k: Tensor, v: Tensor, opts: TitansOptions): MemoryResult {
  return testTimeMemory(q, k, v, { ...opts, memory: 'mlp', bias: 'l2', momentum: opts.momentum ?? 0.9, hidden: opts.hidden ?? 4 * q.shape[3]!, mode: 'sequential' });
}
