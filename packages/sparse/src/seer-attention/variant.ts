/**
 * The 'seer-attention' variant: the distilled gate scores each (query block, key block) of every
 * head from block-pooled q/k, keeps the diagonal block plus the top-k (or above-threshold) blocks,
 * and runs exact attention through a BlockMask of them. Options: gate (a SeerGate, required), topK
 * or threshold. The gate of model head h in layer l is gate index l·heads + h.
 */
import type { AttentionContext, AttentionVariant, VariantResult } from '@attnlab/attention';
import { TensorError, type Tensor } from '@attnlab/tensor';
import { runTileTable } from '../block-select/run.js';
import { gateProbs, selectBlocks, type SeerGate } from './gate.js';

function isGate(x: unknown): x is SeerGate {
  return typeof x === 'object' && x !== null && (x as SeerGate).wq instanceof Float32Array && (x as SeerGate).wk instanceof Float32Array;
}

export const seerVariant: AttentionVariant = {
  name: 'seer-attention',
  description: 'S5 SeerAttention: a distilled block gate picks each query block\'s key blocks (options gate, topK | threshold)',
  optionNames: ['gate', 'topK', 'threshold'],
  async forward(q: Tensor, k: Tensor, v: Tensor, ctx: AttentionContext): Promise<VariantResult> {
    const gate = ctx.options['gate'];
    if (!isGate(gate)) throw new TensorError('seer-attention', 'option gate must be a SeerGate (initSeerGate / distillSeerGate)');
    const topK = ctx.options['topK'] as number | undefined;
    const threshold = ctx.options['threshold'] as number | undefined;
    if (q.shape[3] !== gate.dHead) throw new TensorError('seer-attention', `q has head dim ${q.shape[3]}, the gate ${gate.dHead}`);
    const layer = ctx.layer ?? 0;
    if (layer >= gate.layers) throw new TensorError('seer-attention', `layer ${layer} has no gate (the gate covers ${gate.layers} layers)`);
    return runTileTable('seer-attention', q, k, v, ctx, gate.blockSize, (x) => {
      if (x.modelHead >= gate.heads) throw new TensorError('seer-attention', `head ${x.modelHead} has no gate (the gate covers ${gate.heads} heads)`);
      const p = gateProbs(gate, layer * gate.heads + x.modelHead, x.q, x.k, x.nq, x.nk);
      return selectBlocks(p, x.nq, x.nk, gate.blockSize, { ...(topK !== undefined ? { topK } : {}), ...(threshold !== undefined ? { threshold } : {}) });
    });
  },
};
