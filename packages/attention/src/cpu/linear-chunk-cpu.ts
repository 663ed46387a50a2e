/**
 * linearAttention on the CPU device's WebAssembly kernels: tensors in and out of
 * the streamed forward/backward of linear-stream.ts. Outputs and gradients are written straight
 * into fresh tensor storage (no staging arrays, no upload copies).
 */
import { customGrad, fromStorage, isGradEnabled, reshape, slice, TensorError, type Device, type Tensor } from '@attnlab/tensor';
import { cpuArray } from '../tensor-io.js';
import { exactRow, flushedRows } from './linear-flushed.js';
import { keptSizes, linearBackwardStream, linearForwardStream, type LinearProblem } from './linear-stream.js';

/** A zero-filled CPU tensor and the array behind it, to write in place. */
function cpuOut(dev: Device, shape: readonly number[]): [Tensor, Float32Array] {
  const n = shape.reduce((a, b) => a * b, 1);
  const t = fromStorage(dev, dev.backend.fill('float32', n, 0), [...shape], 'float32');
  return [t, cpuArray(t, 'linearAttention')];
}

export interface ChunkInputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  s0: Tensor | null;
  gate: Tensor | null;
}

/**
 * `forward` (recurrent and parallel modes) replaces the streamed chunk forward: it fills the
 * output (and the normalisers when asked) and returns the final states; the backward is the
 * streamed one either way (one pass from the chunk forward's kept states, else three passes).
 */
export function linearChunkCpu(
  p: LinearProblem, x: ChunkInputs, [B, H]: [number, number], outputFinalState: boolean,
  forward: ((out: Float32Array, den: Float32Array | null) => Float32Array) | null = null,
): { out: Tensor; finalState?: Tensor } {
  const fwd = forward ?? ((o: Float32Array, den: Float32Array | null) => linearForwardStream(p, o, den));
  const keep = forward ? null : keptSizes(p);
  const dev = x.q.device;
  const { BH, N, Dv, F, W } = p;
  const outShape = [B, H, N, Dv];
  const stateShape = [B, H, F, W];
  const inputs = [x.q, x.k, x.v];
  if (x.s0) inputs.push(x.s0);
  if (x.gate) inputs.push(x.gate);
  const needGrad = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  if (!needGrad) {
    const [out, o] = cpuOut(dev, outShape);
    const den = p.normalize ? new Float32Array(BH * N) : null;
    const S = fwd(o, den);
    if (den) for (const r of flushedRows(p, den)) exactRow(p, r, o);
    if (!outputFinalState) return { out };
    const [fin, f] = cpuOut(dev, stateShape);
    f.set(S);
    return { out, finalState: fin };
  }
  const nO = BH * N * Dv;
  const den = p.normalize ? new Float32Array(BH * N) : null;
  // With the final state: one packed [out | finalState] node so one backward gets both gradients.
  const [root, rootA] = cpuOut(dev, outputFinalState ? [nO + BH * F * W] : outShape);
  const o = rootA.subarray(0, nO);
  const kept = keep && keep.states > 0 ? { states: new Float32Array(keep.states), tiles: keep.tiles > 0 ? new Float32Array(keep.tiles) : null } : null;
  const S = kept ? linearForwardStream(p, o, den, kept) : fwd(o, den);
  if (outputFinalState) rootA.set(S, nO);
  const flushed = den ? flushedRows(p, den) : [];
  for (const r of flushed) exactRow(p, r, o);
  const node = customGrad(root, 'linearAttention', inputs, (g) => {
    if (flushed.length > 0) {
      const r = flushed[0]!;
      throw new TensorError('linearAttention backward', `normalised row ${r % N} of sequence ${Math.floor(r / N)} (and ${flushed.length - 1} more) gets its normaliser only from keys decayed below 2^-100 (cumulative decay/gate under -69.3), which the CPU gradient kernels count as 0; its forward is exact but its gradient would be wrong. Keep the gates that cut such a row off above that (e.g. clamp gate >= -20), or run the float64 JS kernels (ATTNLAB_CPU_KERNELS=js), which keep those factors`);
    }
    const gAll = cpuArray(g, 'linearAttention backward');
    const [dq, dqA] = cpuOut(dev, x.q.shape);
    const [dk, dkA] = cpuOut(dev, x.k.shape);
    const [dv, dvA] = cpuOut(dev, x.v.shape);
    const [ds0, ds0A] = x.s0 ? cpuOut(dev, x.s0.shape) : [null, null];
    const [dg, dgA] = x.gate ? cpuOut(dev, x.gate.shape) : [null, null];
    linearBackwardStream(p, o, den, S, kept, gAll.subarray(0, nO), outputFinalState ? gAll.subarray(nO) : null, { dq: dqA, dk: dkA, dv: dvA, dS0: ds0A, dGate: dgA });
    const grads: Tensor[] = [dq, dk, dv];
    if (ds0) grads.push(ds0);
    if (dg) grads.push(dg);
    return grads;
  });
  if (!outputFinalState) return { out: node };
  return { out: reshape(slice(node, [0], [nO]), outShape), finalState: reshape(slice(node, [nO], [BH * F * W]), stateShape) };
}
