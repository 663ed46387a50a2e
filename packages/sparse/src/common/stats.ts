/**
 * Small statistics for the notebooks' claims. Medians, least-squares lines and log-log slopes are @attnlab/tensor's
 * `stats` (one copy for every package), re-exported here; the timing helpers are this package's own.
 */
import { stats } from '@attnlab/tensor';

export type { LineFit } from '@attnlab/tensor';
export const { median, linearFit, logLogSlope } = stats;

/**
 * Median wall time (ms) of `fn` over `repeats` runs after one warm-up; each run repeats `fn`
 * until it has taken at least `minMs`, so short calls are not dominated by timer noise.
 */
export async function medianTime(fn: () => Promise<unknown> | unknown, opts: { repeats?: number; minMs?: number } = {}): Promise<number> {
  const repeats = opts.repeats ?? 5;
  const minMs = opts.minMs ?? 20;
  await fn();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    let calls = 0;
    const t0 = performance.now();
    let dt = 0;
    do {
      await fn();
      calls++;
      dt = performance.now() - t0;
    } while (dt < minMs);
    times.push(dt / calls);
  }
  return median(times);
}

/**
 * Wall time (ms) of each function, measured in interleaved rounds (f0, f1, ..., f0, f1, ...)
 * after one warm-up each, so a load spike on a shared machine hits every configuration alike
 * instead of biasing one. Each sample repeats its function for at least `minMs`. `stat`: the
 * median of the samples (default), or their minimum: other processes only ever add time, so the
 * minimum estimates the code's own time best on a loaded machine.
 */
export async function interleavedMedianTimes(fns: readonly (() => Promise<unknown> | unknown)[], opts: { rounds?: number; minMs?: number; stat?: 'median' | 'min' } = {}): Promise<number[]> {
  const rounds = opts.rounds ?? 5;
  const minMs = opts.minMs ?? 20;
  const times: number[][] = fns.map(() => []);
  for (const f of fns) await f();
  for (let r = 0; r < rounds; r++) {
    for (const [i, f] of fns.entries()) {
      let calls = 0;
      const t0 = performance.now();
      let dt = 0;
      do {
        await f();
        calls++;
        dt = performance.now() - t0;
      } while (dt < minMs);
      times[i]!.push(dt / calls);
    }
  }
  return times.map((t) => (opts.stat === 'min' ? Math.min(...t) : median(t)));
}
