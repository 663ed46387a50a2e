// Issue 13's CPU targets on the CPU device (B 1, H 2, D 64, causal): linear chunk forward beside
// causal flash softmax, every backward against its forward (flash softmax and sigmoid, linear
// chunk with and without a per-token gate, recurrent and parallel modes, the gated delta rule),
// and per-token chunk time over N.
// The machine these run on is shared, so every case is measured in interleaved rounds (each round
// takes one sample of every case at every N; a sample of a small N runs several calls), in one
// process, after a full GC: a case's best-of-k
// (the least disturbed run: other jobs only ever add time) and median are reported, in process CPU
// time (steadier under load: waiting for a core is not counted) and wall time, with the noise
// (median / best - 1) of each.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { tensor, cpuDevice, sum, mul } from '@attnlab/tensor';
import { attention, linearAttention, causal } from '@attnlab/attention';
import { rand } from './attention-common.mjs';

export const LIN = { B: 1, H: 2, D: 64 };

const chunkOpts = { featureMap: 'elu1', normalize: true, mode: 'chunk', chunkSize: 64 };

/** Log sigmoid gates (fla's usual per-token decay), deterministic. */
function gates(n, seed) {
  const x = rand(n, seed);
  return Float32Array.from(x, (z) => -Math.log1p(Math.exp(-4 * z)));
}

/** The cases measured at N: name -> { fwd, loss } (loss: a forward with gradients, whose backward is timed). */
function casesAt(N, { flashUpTo, sigmoidNs, gatedNs, otherModesNs, deltaNs }) {
  const dev = cpuDevice();
  const { H, D } = LIN;
  const shape = [1, H, N, D];
  const [qa, ka, va, ga] = [1, 2, 3, 4].map((s) => rand(H * N * D, s));
  const [q, k, v] = [qa, ka, va].map((a) => tensor(a, shape, { device: dev }));
  const g = tensor(ga, shape, { device: dev });
  const grads = () => [qa, ka, va].map((a) => tensor(a, shape, { device: dev, requiresGrad: true }));
  const cases = {};
  const add = (name, fwd, lossOf) => {
    cases[name] = {
      fwd: async () => { const r = await fwd(q, k, v); r.out.dispose(); r.lse?.dispose(); },
      loss: async () => { const [qg, kg, vg] = grads(); return sum(mul((await lossOf(qg, kg, vg)).out, g)); },
    };
  };
  if (N <= flashUpTo) {
    const f = (x, y, z) => attention(x, y, z, { mask: causal() });
    add('flash', f, f);
  }
  if (sigmoidNs.includes(N)) {
    const f = (x, y, z) => attention(x, y, z, { mask: causal(), normalize: 'sigmoid' });
    add('sigmoid', f, f);
  }
  const lin = (x, y, z) => linearAttention(x, y, z, chunkOpts);
  add('chunk', lin, lin);
  if (gatedNs.includes(N)) {
    const gate = tensor(gates(H * N, 5), [1, H, N], { device: dev });
    const gl = (x, y, z) => linearAttention(x, y, z, { ...chunkOpts, gate });
    add('gatedChunk', gl, gl);
  }
  if (otherModesNs.includes(N)) {
    for (const mode of ['recurrent', 'parallel']) {
      const f = (x, y, z) => linearAttention(x, y, z, { ...chunkOpts, mode });
      add(mode, f, f);
    }
  }
  if (deltaNs.includes(N)) {
    const gate = tensor(gates(H * N, 6), [1, H, N], { device: dev });
    const beta = tensor(Float32Array.from(rand(H * N, 7), (z) => 1 / (1 + Math.exp(-z))), [1, H, N], { device: dev });
    const f = (x, y, z) => linearAttention(x, y, z, { featureMap: 'identity', mode: 'chunk', chunkSize: 64, gate, beta });
    add('gatedDelta', f, f);
  }
  return cases;
}

// A full collection before each sample: garbage left by the previous case (other sizes, other
// kernels) is otherwise collected inside whichever timed call comes next.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

/**
 * One sample: `calls` runs of fn (prepare() before each, untimed), timed together; returns ms per
 * call. Small N runs several calls per sample, so every sample spans a similar stretch of time and
 * meets a similar share of the machine's other jobs (a lone 7 ms call is far more often undisturbed
 * than a 500 ms one, which would tilt best-of-k towards small N).
 */
async function sample(fn, calls, prepare = null) {
  const args = [];
  for (let i = 0; i < calls; i++) args.push(prepare ? await prepare() : null);
  gc();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const a of args) await fn(a);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall: wall / calls, cpu: (c.user + c.system) / 1000 / calls };
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

/**
 * One record per N. Per case X (ms): X (best CPU), XWall (best wall), XMed (median CPU), XWallMed,
 * XNoise (median / best - 1, CPU); backward/forward ratios of best CPU (XBwdOverFwd) and of
 * medians (XBwdOverFwdMed); chunk per token (µs) and chunk / flash.
 */
export async function linearCpuRecords(Ns, opts = {}) {
  const o = {
    rounds: 5, tokens: 65536, flashUpTo: 8192, sigmoidNs: [1024, 4096], gatedNs: [1024, 16384], otherModesNs: [1024], deltaNs: [1024],
    log: () => {}, ...opts,
  };
  const at = new Map(Ns.map((N) => [N, casesAt(N, o)]));
  const samples = new Map(); // `${N} ${name} fwd|bwd` -> [{wall, cpu}]
  const push = (key, s) => { if (!samples.has(key)) samples.set(key, []); samples.get(key).push(s); };
  // Warm-up: the JS glue is the same code at every N, so the smallest N warms it for all.
  for (const c of Object.values(at.get(Math.min(...Ns)))) {
    for (let i = 0; i < 4; i++) { await c.fwd(); (await c.loss()).backward(); }
  }
  for (let r = 0; r < o.rounds; r++) {
    // Alternate the order of sizes each round, so a drift in machine load does not tilt the spread.
    const order = r % 2 ? [...Ns].reverse() : Ns;
    for (const N of order) {
      for (const [name, c] of Object.entries(at.get(N))) {
        // Linear chunk forward (the per-token criterion): o.tokens tokens a sample; the chunk
        // backwards 16k; the other cases (baselines, or at one N only) one call.
        const chunked = name === 'chunk' || name === 'gatedChunk';
        const calls = (tokens) => (chunked ? Math.max(1, Math.round(tokens / N)) : 1);
        push(`${N} ${name} fwd`, await sample(c.fwd, calls(name === 'chunk' ? o.tokens : 16384)));
        push(`${N} ${name} bwd`, await sample((loss) => loss.backward(), calls(16384), c.loss));
      }
    }
    o.log(`round ${r + 1}/${o.rounds} done`);
  }
  const rows = [];
  for (const N of Ns) {
    const row = { N, rounds: o.rounds };
    for (const name of Object.keys(at.get(N))) {
      for (const dir of ['fwd', 'bwd']) {
        const s = samples.get(`${N} ${name} ${dir}`);
        const key = name === 'flash' && dir === 'fwd' ? 'flash' : `${name}${dir === 'fwd' ? 'Fwd' : 'Bwd'}`;
        const cpu = s.map((x) => x.cpu);
        const wall = s.map((x) => x.wall);
        row[key] = Math.min(...cpu);
        row[`${key}Wall`] = Math.min(...wall);
        row[`${key}Med`] = median(cpu);
        row[`${key}WallMed`] = median(wall);
        row[`${key}Noise`] = median(cpu) / Math.min(...cpu) - 1;
        row[`${key}Samples`] = s.length;
      }
      const f = name === 'flash' ? 'flash' : `${name}Fwd`;
      row[`${name}BwdOverFwd`] = row[`${name}Bwd`] / row[f];
      row[`${name}BwdOverFwdMed`] = row[`${name}BwdMed`] / row[`${f}Med`];
      row[`${name}BwdOverFwdWall`] = row[`${name}BwdWall`] / row[`${f}Wall`];
    }
    if (row.flash !== undefined) {
      row.chunkOverFlash = row.chunkFwd / row.flash;
      row.chunkOverFlashMed = row.chunkFwdMed / row.flashMed;
      row.chunkOverFlashWall = row.chunkFwdWall / row.flashWall;
    }
    row.chunkUsPerToken = (row.chunkFwd * 1000) / N;
    row.chunkUsPerTokenMed = (row.chunkFwdMed * 1000) / N;
    row.chunkUsPerTokenWall = (row.chunkFwdWall * 1000) / N;
    rows.push(row);
    o.log(JSON.stringify(row));
  }
  return rows;
}

/** Largest |x / median(xs) - 1| over xs. */
export function devFromMedian(xs) {
  const m = median(xs);
  return Math.max(...xs.map((x) => Math.abs(x / m - 1)));
}
