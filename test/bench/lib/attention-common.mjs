// Shared by the attention bench in Node (suites/attention.mjs) and in Chromium
// (browser/attention-page.mjs): inputs, timing, the random block-sparse mask, the log-log slope.
// Browser-safe: no Node imports.
import { tensor } from '@attnlab/tensor';
import { attention, linearAttention, causal, createBlockMask, maskMod } from '@attnlab/attention';

export const H = 8;
export const D = 64;

/** Deterministic uniform floats in [-1, 1) (mulberry32), so both hosts time the same inputs. */
export function rand(n, seed) {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5) * 2;
  }
  return out;
}

/** Median wall time of `reps` runs after `warm` untimed ones. */
export async function time(fn, { reps, warm = 1 }) {
  for (let i = 0; i < warm; i++) await fn();
  const ts = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

export const repsFor = (N) => (N <= 512 ? 5 : N <= 2048 ? 3 : 1);

/** Causal block mask that keeps a random `density` share of the lower-triangle blocks (diagonal always kept). */
export function sparseMask(N, density, seed) {
  const nb = Math.ceil(N / 64);
  const r = rand(nb * nb, seed);
  const blk = Array.from({ length: nb }, (_, i) => Array.from({ length: nb }, (_, j) => (j === i || (j < i && (r[i * nb + j] + 1) / 2 < density) ? 1 : 0)));
  const m = maskMod((b, h, q, k) => k <= q && blk[Math.floor(q / 64)][Math.floor(k / 64)] === 1, { captures: { blk } });
  return createBlockMask(m, { B: 1, H, Nq: N, Nk: N, blockSize: 64 });
}

export const causalDensity = (N) => createBlockMask(causal(), { B: 1, H: 1, Nq: N, Nk: N, blockSize: 64 }).density();

/** Least-squares slope of log(y) over log(x). */
export function slope(xs, ys) {
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((a, b) => a + b) / lx.length;
  const my = ly.reduce((a, b) => a + b) / ly.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < lx.length; i++) {
    num += (lx[i] - mx) * (ly[i] - my);
    den += (lx[i] - mx) ** 2;
  }
  return num / den;
}

/** Times to 3 decimals; error figures (…maxAbsDiff) to 3 significant digits, since they are ~1e-7. */
export const round3 = (row) => Object.fromEntries(Object.entries(row).map(([a, b]) => [a, typeof b !== 'number' ? b : /maxAbsDiff$/i.test(a) ? +b.toPrecision(3) : +b.toFixed(3)]));

/** Flash over naive and over each ORT graph that ran; sparse over flash beside the ideal ratios. */
export function ratios(rec, row, densities, N) {
  const over = (x) => (row[x] ? +(row.flash / row[x]).toFixed(3) : null);
  rec.flashOverNaive = over('naive');
  if (row.flashTiled) rec.tiledOverRowwise = +(row.flashTiled / row.flash).toFixed(3);
  if (row.decodeTiled) rec.decodeTiledOverRowwise = +(row.decodeTiled / row.decode).toFixed(3);
  // f16 storage over f32 storage, same kernel (each f16 call includes packing q, k, v and its range check).
  if (row.flashF16) rec.f16OverF32 = +(row.flashF16 / row.flash).toFixed(3);
  if (row.flashTiledF16) rec.tiledF16OverF32 = +(row.flashTiledF16 / row.flashTiled).toFixed(3);
  if (row.flashTiledF16Native) rec.tiledF16NativeOverPacked = +(row.flashTiledF16Native / row.flashTiledF16).toFixed(3);
  if (row.decodeTiledF16) rec.decodeTiledF16OverF32 = +(row.decodeTiledF16 / row.decodeTiled).toFixed(3);
  for (const [key, col] of [['flashOverOrtMatmul', 'ort_matmul'], ['flashOverOrtFused', 'ort_fused'], ['flashOverOrtMha', 'ort_mha']]) {
    if (col in row || `${col}_error` in row) rec[key] = over(col);
  }
  sparseRatios(rec, row, densities, N);
}

/** Sparse-over-flash ratios beside the ideal (active-tile) ratios. */
function sparseRatios(rec, row, densities, N) {
  const cd = causalDensity(N);
  for (const [density, d] of Object.entries(densities)) {
    rec[`sparse${density}OverFlash`] = +(row[`sparse${density}`] / row.flash).toFixed(3);
    rec[`sparse${density}IdealRatio`] = +(d / cd).toFixed(3);
  }
}

/** Our causal flash output for the bench inputs at N, [1, H, N, D] as a Float32Array: the reference ORT's outputs are checked against. */
export async function ourCausalOut(dev, N) {
  const shape = [1, H, N, D];
  const [q, k, v] = [1, 2, 3].map((s) => tensor(rand(H * N * D, s), shape, { device: dev }));
  const r = await attention(q, k, v, { mask: causal() });
  const out = Float32Array.from(await r.out.data());
  for (const t of [q, k, v, r.out, r.lse]) t.dispose();
  return out;
}

/** Max |a - ref| where `a` is [1, H, N, D], or [1, N, H*D] when `tokenMajor` (MultiHeadAttention's layout). */
export function maxAbsDiff(a, ref, N, tokenMajor) {
  let m = 0;
  for (let h = 0; h < H; h++) {
    for (let n = 0; n < N; n++) {
      for (let d = 0; d < D; d++) {
        const x = tokenMajor ? a[(n * H + h) * D + d] : a[(h * N + n) * D + d];
        m = Math.max(m, Math.abs(x - ref[(h * N + n) * D + d]));
      }
    }
  }
  return m;
}

const maxDiff = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

/**
 * Our kernels on a WebGPU device at one N: flash (row-per-thread and cooperative-tile kernels),
 * decode (Nq = 1: rowwise and split-K), naive (while it fits), block-sparse at three
 * densities, linear chunk mode. Each timing ends with dev.sync() so queued GPU work is counted.
 */
export async function ourGpuRow(dev, N, { reps, naiveUpTo }) {
  const shape = [1, H, N, D];
  const [q, k, v] = [1, 2, 3].map((s) => tensor(rand(H * N * D, s), shape, { device: dev }));
  const timed = (opts) => time(async () => {
    const r = await attention(q, k, v, opts);
    await dev.sync();
    r.out.dispose();
    r.lse.dispose();
  }, { reps });
  const row = { N };
  const densities = {};
  try {
    row.flash = await timed({ mask: causal() });
    // The cooperative-tile kernel (kernel: 'tiled'), checked against the row-per-thread one before it is timed.
    const a = await attention(q, k, v, { mask: causal() });
    const b = await attention(q, k, v, { mask: causal(), kernel: 'tiled' });
    row.tiledMaxAbsDiff = maxDiff(await a.out.data(), await b.out.data());
    // f16 storage (q, k, v as packed halves, f32 accumulation), within F1's fp16 bound of f32 storage.
    const c = await attention(q, k, v, { mask: causal(), storage: 'f16' });
    row.f16MaxAbsDiff = maxDiff(await a.out.data(), await c.out.data());
    for (const t of [a.out, a.lse, b.out, b.lse, c.out, c.lse]) t.dispose();
    if (!(row.tiledMaxAbsDiff < 1e-4)) throw new Error(`tiled kernel differs from rowwise by ${row.tiledMaxAbsDiff}`);
    if (!(row.f16MaxAbsDiff < 2e-3)) throw new Error(`f16 storage differs from f32 by ${row.f16MaxAbsDiff}`);
    row.flashTiled = await timed({ mask: causal(), kernel: 'tiled' });
    // Packed f16 storage (portable) and, where the adapter has shader-f16, the native f16 variant.
    const native = dev.backend?.gpu?.features?.has('shader-f16') === true;
    row.flashF16 = await timed({ mask: causal(), storage: 'f16' });
    row.flashTiledF16 = await timed({ mask: causal(), kernel: 'tiled', storage: 'f16' });
    if (native) row.flashTiledF16Native = await timed({ mask: causal(), kernel: 'tiled', storage: 'f16-native' });
    // Decode: one query row against N keys (tiled: split-K).
    const q1 = tensor(rand(H * D, 9), [1, H, 1, D], { device: dev });
    const dec = (kernel, storage = 'f32') => time(async () => {
      const r = await attention(q1, k, v, { kernel, storage });
      await dev.sync();
      r.out.dispose();
      r.lse.dispose();
    }, { reps });
    row.decode = await dec('rowwise');
    row.decodeTiled = await dec('tiled');
    row.decodeTiledF16 = await dec('tiled', 'f16');
    q1.dispose();
    if (N <= naiveUpTo) row.naive = await timed({ mask: causal(), impl: 'naive' });
    for (const density of [0.5, 0.25, 0.1]) {
      const bm = sparseMask(N, density, 7);
      densities[density] = bm.density();
      row[`sparse${density}`] = await timed({ mask: bm });
    }
    row.linearChunk = await time(async () => {
      const r = await linearAttention(q, k, v, { featureMap: 'elu1', normalize: true, mode: 'chunk', chunkSize: 64 });
      await dev.sync();
      r.out.dispose();
    }, { reps });
  } finally {
    for (const t of [q, k, v]) t.dispose();
  }
  return { row, densities };
}
