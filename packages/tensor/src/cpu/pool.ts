/**
 * Recycled float32 arrays for the CPU device. A training step allocates hundreds of MB of
 * activations and gradients and frees them all when its scope ends; fresh arrays of that size
 * come from the OS as untouched pages (a page fault per 4 KB on first write) and churn the
 * garbage collector. Arrays of disposed tensors wait here, by length, for the next op that
 * needs that length. Only arrays the CPU backend allocated itself are recycled (never shared or
 * caller-provided memory), and only after their tensor was disposed.
 */

/** Smaller arrays are cheap to allocate: not worth the bookkeeping. */
const MIN_LENGTH = 4096;
/** At most this many bytes wait in the pool (the rest go to the garbage collector). */
const MAX_BYTES = 256 * 1024 * 1024;

const free = new Map<number, Float32Array[]>();
let pooledBytes = 0;
/** Arrays this module handed out (so foreign arrays are never taken in). */
const ours = new WeakSet<Float32Array>();

/** A float32 array of length n whose contents the caller overwrites entirely (junk until then). */
export function f32Overwrite(n: number): Float32Array {
  if (n < MIN_LENGTH) return new Float32Array(n);
  const list = free.get(n);
  const a = list?.pop();
  if (a) {
    pooledBytes -= n * 4;
    return a;
  }
  const fresh = new Float32Array(n);
  ours.add(fresh);
  return fresh;
}

/** A zero-filled float32 array of length n. */
export function f32Zeroed(n: number): Float32Array {
  if (n < MIN_LENGTH) return new Float32Array(n);
  const list = free.get(n);
  const a = list?.pop();
  if (a) {
    pooledBytes -= n * 4;
    return a.fill(0);
  }
  const fresh = new Float32Array(n);
  ours.add(fresh);
  return fresh;
}

/** Take back the array of a disposed tensor's storage (ignored unless it came from here). */
export function recycle(a: Float32Array | Int32Array): void {
  if (!(a instanceof Float32Array) || !ours.has(a)) return;
  const n = a.length;
  if (pooledBytes + n * 4 > MAX_BYTES) return;
  let list = free.get(n);
  if (!list) free.set(n, (list = []));
  // A double release must not hand one array to two tensors.
  if (list.includes(a)) return;
  list.push(a);
  pooledBytes += n * 4;
}

/** Never recycle `a` (memory a caller keeps using, e.g. given to useCpuMemory). */
export function keepOut(a: Float32Array): void {
  ours.delete(a);
}

/** Bytes waiting in the pool (tests, stats). */
export function pooledCpuBytes(): number {
  return pooledBytes;
}
