// Linear attention on the CPU device (B 1, H 2, D 64, elu1, normalised): chunk forward beside
// causal flash softmax, forward + backward per mode, and per-token chunk time over N.
import { tensor, cpuDevice, sum, mul } from '@attnlab/tensor';
import { attention, linearAttention, causal } from '@attnlab/attention';
import { rand } from './attention-common.mjs';

export const LIN = { B: 1, H: 2, D: 64 };

/** Warm-up calls: ~10 until V8 has optimised the glue (measured: 1024 tokens settle after ~10 calls). */
const warmFor = (reps) => (reps >= 5 ? 10 : reps >= 3 ? 4 : 2);

/**
 * Median wall time and median process CPU time (ms) of `reps` runs after one warm-up. On a shared
 * machine the CPU time is the steadier figure (other jobs stretch wall time, not our CPU time).
 */
async function time2(fn, { reps }) {
  // Several warm-up runs: the JS glue around the SIMD kernels needs a few calls to be optimised.
  for (let i = 0; i < warmFor(reps); i++) await fn();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return stats(wall, cpu);
}

/** Medians, and minima (the least disturbed run: other jobs only ever add time). */
function stats(wall, cpu) {
  const med = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { wall: med(wall), cpu: med(cpu), wallMin: Math.min(...wall), cpuMin: Math.min(...cpu) };
}

/** Backward alone: time2 around loss.backward() of a fresh forward. */
async function timeBackward(forward, { reps }) {
  const walls = [];
  const cpus = [];
  const warm = warmFor(reps);
  for (let i = 0; i < warm + reps; i++) {
    const loss = await forward();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    loss.backward();
    if (i < warm) continue;
    walls.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000);
  }
  return stats(walls, cpus);
}

/** One record per N: flash and linear forward and backward alone (ms, wall and CPU). */
export async function linearCpuRows(Ns, { modes = ['chunk'], flashUpTo = 16384, log = console.log } = {}) {
  const dev = cpuDevice();
  const { H, D } = LIN;
  const rows = [];
  for (const N of Ns) {
    const shape = [1, H, N, D];
    const [qa, ka, va, ga] = [1, 2, 3, 4].map((s) => rand(H * N * D, s));
    const reps = N <= 2048 ? 5 : 3;
    const row = { N };
    const put = (name, t) => { row[name] = t.wall; row[`${name}Cpu`] = t.cpu; row[`${name}CpuMin`] = t.cpuMin; };
    if (N <= flashUpTo) {
      const [q, k, v] = [qa, ka, va].map((a) => tensor(a, shape, { device: dev }));
      put('flash', await time2(async () => { const r = await attention(q, k, v, { mask: causal() }); r.out.dispose(); r.lse.dispose(); }, { reps }));
    }
    for (const mode of modes) {
      if (mode === 'parallel' && N > 4096) continue;
      const opts = { featureMap: 'elu1', normalize: true, mode, chunkSize: 64 };
      const [q, k, v] = [qa, ka, va].map((a) => tensor(a, shape, { device: dev }));
      put(`${mode}Fwd`, await time2(async () => { const r = await linearAttention(q, k, v, opts); r.out.dispose(); }, { reps }));
      const g = tensor(ga, shape, { device: dev });
      put(`${mode}Bwd`, await timeBackward(async () => {
        const [qg, kg, vg] = [qa, ka, va].map((a) => tensor(a, shape, { device: dev, requiresGrad: true }));
        const r = await linearAttention(qg, kg, vg, opts);
        return sum(mul(r.out, g));
      }, { reps: Math.min(reps, 3) }));
      row[`${mode}BwdOverFwd`] = +(row[`${mode}Bwd`] / row[`${mode}Fwd`]).toFixed(3);
      row[`${mode}BwdOverFwdCpu`] = +(row[`${mode}BwdCpu`] / row[`${mode}FwdCpu`]).toFixed(3);
      row[`${mode}BwdOverFwdCpuMin`] = +(row[`${mode}BwdCpuMin`] / row[`${mode}FwdCpuMin`]).toFixed(3);
    }
    if (row.flash && row.chunkFwd) {
      row.chunkOverFlash = +(row.chunkFwd / row.flash).toFixed(3);
      row.chunkOverFlashCpu = +(row.chunkFwdCpu / row.flashCpu).toFixed(3);
      row.chunkOverFlashCpuMin = +(row.chunkFwdCpuMin / row.flashCpuMin).toFixed(3);
    }
    if (row.chunkFwd) {
      row.chunkUsPerToken = +((row.chunkFwd * 1000) / N).toFixed(3);
      row.chunkUsPerTokenCpu = +((row.chunkFwdCpu * 1000) / N).toFixed(3);
      row.chunkUsPerTokenCpuMin = +((row.chunkFwdCpuMin * 1000) / N).toFixed(3);
    }
    rows.push(row);
    log(JSON.stringify(row));
  }
  return rows;
}
