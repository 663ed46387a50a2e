/** Small statistics for the notebooks' claims: medians, least-squares lines, log-log slopes. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median: no values');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface LineFit {
  slope: number;
  intercept: number;
  /** Coefficient of determination of y ~ slope * x + intercept. */
  r2: number;
}

/** Ordinary least squares y = a x + b with R². */
export function linearFit(x: readonly number[], y: readonly number[]): LineFit {
  if (x.length !== y.length) throw new RangeError(`linearFit: ${x.length} x values and ${y.length} y values`);
  if (x.length < 2) throw new RangeError('linearFit: needs at least 2 points');
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  if (sxx === 0) throw new RangeError('linearFit: all x values are equal');
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept: my - slope * mx, r2 };
}

/** Slope of log(y) against log(x): the exponent p of y ∝ x^p. */
export function logLogSlope(x: readonly number[], y: readonly number[]): number {
  if (x.some((v) => !(v > 0)) || y.some((v) => !(v > 0))) throw new RangeError('logLogSlope: x and y must be positive');
  return linearFit(x.map(Math.log), y.map(Math.log)).slope;
}

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
