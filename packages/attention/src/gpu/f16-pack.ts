/**
 * f16 storage on WebGPU: pack q, k, v into float16 words on the device (wgsl/f16-pack.ts) and
 * refuse a tensor holding a value beyond float16's range, naming it, instead of computing with
 * Infinity. The packed arrays live in tensors of the backend (freed as tensors are).
 */
import type { Tensor } from '@attnlab/tensor';
import { packedWords } from '../wgsl/qkv-storage.js';
import { f16PackSource } from '../wgsl/f16-pack.js';
import { f16RangeError } from '../f16.js';
import { allocTensor, bufferOfTensor, type GpuBackendLike } from './bridge.js';
import { compileChecked, createBufferFrom, createStorage, encodeDispatch, readBuffer } from './runner.js';

export interface PackedQkv {
  /** Packed tensors (int32 words, opaque): keep them alive while their buffers are used. */
  tensors: Tensor[];
  buffers: [GPUBuffer, GPUBuffer, GPUBuffer];
  /**
   * Settles once the pack ran: rejects naming the first tensor with a finite value beyond ±65504
   * (the caller disposes the packed tensors then). Kernels may be queued on the buffers before it settles,
   * so the range check's read-back overlaps them; their results must not be returned before it does.
   */
  checked: Promise<void>;
}

/** Pack q, k, v (rows of their last dim) into f16 storage (queued; see PackedQkv.checked for the range check). */
export async function packQkvF16(be: GpuBackendLike, q: Tensor, k: Tensor, v: Tensor, fail: (message: string) => Error): Promise<PackedQkv> {
  const gpu = be.gpu;
  const src = f16PackSource();
  await compileChecked(gpu, [src], fail);
  const named = [['q', q], ['k', k], ['v', v]] as const;
  be.flush(); // q, k, v may still be being written by queued tensor ops
  gpu.pushErrorScope('validation');
  const flag = createBufferFrom(gpu, new Uint32Array([0xffffffff, 0xffffffff, 0xffffffff, 0]), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
  const aux = createStorage(gpu, 16);
  const params: GPUBuffer[] = [];
  const tensors: Tensor[] = [];
  const enc = gpu.createCommandEncoder();
  named.forEach(([name, t], slot) => {
    const W = t.shape[t.rank - 1]!;
    const rows = t.size / W;
    const words = rows * packedWords(W);
    const out = allocTensor(t.device, be, [words], 'int32');
    tensors.push(out.t);
    const p = createBufferFrom(gpu, new Uint32Array([W, packedWords(W), words, slot]), GPUBufferUsage.UNIFORM);
    params.push(p);
    const groups = Math.ceil(words / 64);
    encodeDispatch(gpu, enc, src, p, aux, [bufferOfTensor(be, t, `attention (${name})`), out.buf, flag], [Math.min(groups, 65535), Math.ceil(groups / 65535), 1]);
  });
  gpu.queue.submit([enc.finish()]);
  const invalidP = gpu.popErrorScope();
  const checked = (async () => {
    const flags = new Uint32Array((await readBuffer(gpu, flag, 12)).buffer);
    const invalid = await invalidP;
    for (const b of [flag, aux, ...params]) b.destroy();
    const bad = [0, 1, 2].find((i) => flags[i] !== 0xffffffff);
    if (invalid || bad !== undefined) {
      if (invalid) throw fail(invalid.message);
      const [name, t] = named[bad!]!;
      const at = flags[bad!]!;
      throw f16RangeError(name, t, at, (await t.data())[at]!);
    }
  })();
  // Handled by whoever awaits it; this keeps a rejection seen only later from being reported as unhandled.
  checked.catch(() => undefined);
  const bufs = tensors.map((t) => bufferOfTensor(be, t, 'attention')) as [GPUBuffer, GPUBuffer, GPUBuffer];
  return { tensors, buffers: bufs, checked };
}
