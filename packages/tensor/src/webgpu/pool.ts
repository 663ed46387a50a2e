/// <reference types="@webgpu/types" />
/**
 * Recycles storage buffers by size class (powers of two up to 256 MiB, exact above), so a
 * training loop stops allocating after its first step.
 */
const EXACT_ABOVE = 256 * 1024 * 1024;
const USAGE = 0x0080 /* STORAGE */ | 0x0004 /* COPY_SRC */ | 0x0008; /* COPY_DST */

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;

  constructor(
    private readonly gpu: GPUDevice,
    /** Buffers that do not fit the pool; they may still be used by unsubmitted work. */
    private readonly evict: (b: GPUBuffer) => void,
    private readonly maxPooledBytes = 512 * 1024 * 1024,
  ) {}

  private bucket(bytes: number): number {
    if (bytes > EXACT_ABOVE) return Math.ceil(bytes / 16) * 16;
    let b = 16;
    while (b < bytes) b *= 2;
    return b;
  }

  acquire(bytes: number): GPUBuffer {
    const size = this.bucket(bytes);
    const list = this.free.get(size);
    const hit = list?.pop();
    if (hit) {
      this.pooledBytes -= size;
      return hit;
    }
    return this.gpu.createBuffer({ size, usage: USAGE });
  }

  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    if (this.pooledBytes + size > this.maxPooledBytes) {
      this.evict(buffer);
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
    this.pooledBytes += size;
  }

  clear(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
  }
}
