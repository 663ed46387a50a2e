/** Run the chunked linear attention kernels on GPUBuffers. */
import { linearChunkStatesSource, linearOutputSource, linearScanSource, packLinearParams } from '../wgsl/linear.js';
import { createBufferFrom, createStorage, encodeDispatch } from './runner.js';

export interface LinearGpuDims {
  /** Batch x heads. */
  BH: number;
  H: number;
  N: number;
  /** Feature width of q, k. */
  F: number;
  /** Value width. */
  W: number;
}

/**
 * y = chunked causal linear attention (see wgsl/linear.ts); returns fresh y [BH, N, W] and
 * final state [BH, F, W]. `s0` null means a zero initial state. `logDecay` is a buffer of
 * log a_t [BH, N] (row order) or per-head decays lambda, expanded here.
 */
export function linearChunkGpu(
  device: GPUDevice, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, s0: GPUBuffer | null, dims: LinearGpuDims,
  opts: { decay: GPUBuffer | ArrayLike<number>; scale: number; chunkSize: number; reverse: boolean },
  outputs?: { y: GPUBuffer; finalState: GPUBuffer },
): { y: GPUBuffer; finalState: GPUBuffer } {
  const { BH, H, N, F, W } = dims;
  const C = opts.chunkSize;
  const nC = Math.ceil(N / C);
  const params = createBufferFrom(device, packLinearParams({ BH, H, N, F, W, C, scale: opts.scale }), GPUBufferUsage.UNIFORM);
  const given = isBuffer(opts.decay) ? opts.decay : null;
  const aux = given ?? createBufferFrom(device, perRowLogDecay(opts.decay as ArrayLike<number>, BH, H, N), GPUBufferUsage.STORAGE);
  const ds = createStorage(device, BH * nC * F * W * 4);
  const sp = createStorage(device, BH * nC * F * W * 4);
  const zero = s0 ?? createStorage(device, BH * F * W * 4);
  const finalState = outputs?.finalState ?? createStorage(device, BH * F * W * 4);
  const y = outputs?.y ?? createStorage(device, BH * N * W * 4);
  const enc = device.createCommandEncoder();
  const fwGroups = Math.ceil((F * W) / 64);
  encodeDispatch(device, enc, linearChunkStatesSource(opts.reverse), params, aux, [k, v, ds], [fwGroups, nC, BH]);
  encodeDispatch(device, enc, linearScanSource(opts.reverse), params, aux, [zero, ds, sp, finalState], [fwGroups, BH, 1]);
  encodeDispatch(device, enc, linearOutputSource(opts.reverse, C), params, aux, [q, k, v, sp, y], [nC, BH, 1]);
  device.queue.submit([enc.finish()]);
  for (const b of [params, ds, sp]) b.destroy();
  if (!given) aux.destroy();
  if (!s0) zero.destroy();
  return { y, finalState };
}

/** log lambda_h for every row of every (b, h). */
export function perRowLogDecay(decay: ArrayLike<number>, BH: number, H: number, N: number): Float32Array {
  const a = new Float32Array(Math.max(1, BH * N));
  for (let bh = 0; bh < BH; bh++) a.fill(Math.log(decay[bh % H]!), bh * N, (bh + 1) * N);
  return a;
}

function isBuffer(x: GPUBuffer | ArrayLike<number>): x is GPUBuffer {
  return typeof (x as Partial<GPUBuffer>).mapAsync === 'function';
}
