import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng, TensorError, add, cpuDevice, matmul, matmulBias, tensor, type Tensor } from '../src/index.js';
import { assertClose, pickOne, randomData, SEED, testDevices } from './helpers.js';

/** Leading dims, k and n: rows of 1 and odd counts, k and n off the 4 x 8 tile and the 512 k-chunk. */
const LEADS = [[1], [5], [2, 3], [3, 1, 7], [2, 33], [1, 64]];
const KS = [1, 3, 4, 7, 9, 33, 128, 513];
const NS = [1, 5, 8, 12, 13, 64, 130];

interface Case { lead: number[]; k: number; n: number; x: Float32Array; w: Float32Array; b: Float32Array; g: Float32Array }

function randomCase(rng: Rng, fixed?: [number[], number, number]): Case {
  const lead = fixed ? fixed[0] : pickOne(rng, LEADS);
  const k = fixed ? fixed[1] : pickOne(rng, KS);
  const n = fixed ? fixed[2] : pickOne(rng, NS);
  const rows = lead.reduce((p, d) => p * d, 1);
  return { lead, k, n, x: randomData(rng, rows * k), w: randomData(rng, k * n), b: randomData(rng, n), g: randomData(rng, rows * n) };
}

/** Value and gradients of f(x, w, b) for the output gradient g. */
async function run(c: Case, f: (x: Tensor, w: Tensor, b: Tensor) => Tensor, device = cpuDevice()): Promise<Float32Array[]> {
  const x = tensor(c.x, [...c.lead, c.k], { device, requiresGrad: true });
  const w = tensor(c.w, [c.k, c.n], { device, requiresGrad: true });
  const b = tensor(c.b, [c.n], { device, requiresGrad: true });
  const y = f(x, w, b);
  assert.deepEqual(y.shape, [...c.lead, c.n]);
  y.backward(tensor(c.g, y.shape, { device }));
  const out = [await y.data(), await x.grad!.data(), await w.grad!.data(), await b.grad!.data()] as Float32Array[];
  for (const t of [x, w, b, y]) t.dispose();
  return out;
}

test('matmulBias equals matmul then add bit for bit (value and x, weight, bias gradients) on the CPU', async () => {
  const rng = new Rng(SEED);
  // Always on the SIMD kernel with the in-kernel bias and the SIMD column sums (n % 4 == 0), with one,
  // two and three leading axes (each reduced separately), and on the JS column sums (n odd).
  const fixed: [number[], number, number][] = [[[2, 256], 128, 512], [[2, 33], 9, 12], [[3, 1, 7], 513, 64], [[5, 3], 33, 13]];
  for (let trial = 0; trial < 40 + fixed.length; trial++) {
    const c = randomCase(rng, fixed[trial - 40]);
    const fused = await run(c, matmulBias);
    const plain = await run(c, (x, w, b) => add(matmul(x, w), b));
    const what = ['value', 'dx', 'dweight', 'dbias'];
    for (let i = 0; i < 4; i++) {
      const same = fused[i]!.every((v, j) => Object.is(v, plain[i]![j]));
      assert.ok(same, `${what[i]} differs from matmul + add for x [${[...c.lead, c.k]}] @ [${c.k}, ${c.n}]`);
    }
  }
});

test('matmulBias value and gradients match float64 references on the CPU and WebGPU', async () => {
  const rng = new Rng(SEED + 1);
  for (const device of await testDevices()) {
    for (let trial = 0; trial < 16; trial++) {
      const c = randomCase(rng);
      const rows = c.g.length / c.n;
      const [y, dx, dw, db] = await run(c, matmulBias, device);
      const wantY = new Float64Array(rows * c.n);
      const wantDx = new Float64Array(rows * c.k);
      const wantDw = new Float64Array(c.k * c.n);
      const wantDb = new Float64Array(c.n);
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < c.n; j++) {
          let s = c.b[j]!;
          for (let p = 0; p < c.k; p++) s += c.x[r * c.k + p]! * c.w[p * c.n + j]!;
          wantY[r * c.n + j] = s;
          const g = c.g[r * c.n + j]!;
          wantDb[j] += g;
          for (let p = 0; p < c.k; p++) {
            wantDx[r * c.k + p] += g * c.w[p * c.n + j]!;
            wantDw[p * c.n + j] += c.x[r * c.k + p]! * g;
          }
        }
      }
      const what = `${device.kind} x [${[...c.lead, c.k]}] @ [${c.k}, ${c.n}]`;
      assertClose(y!, wantY, 1e-5 * Math.sqrt(c.k + 1), 1e-5, `${what}: value`);
      assertClose(dx!, wantDx, 1e-5 * Math.sqrt(c.n), 1e-5, `${what}: dx`);
      assertClose(dw!, wantDw, 1e-5 * Math.sqrt(rows), 1e-5, `${what}: dweight`);
      assertClose(db!, wantDb, 1e-5 * Math.sqrt(rows), 1e-5, `${what}: dbias`);
    }
  }
});

test('matmulBias names the bad argument and its shape', () => {
  const d = cpuDevice();
  const x = tensor(new Float32Array(6), [2, 3], { device: d });
  const w = tensor(new Float32Array(12), [3, 4], { device: d });
  const b = tensor(new Float32Array(4), [4], { device: d });
  const fails = (f: () => unknown, re: RegExp): void => assert.throws(f, (e: unknown) => e instanceof TensorError && re.test(e.message));
  fails(() => matmulBias(x, tensor(new Float32Array(12), [1, 3, 4], { device: d }), b), /weight must be \[k, n\], got \[1, 3, 4\]/);
  fails(() => matmulBias(x, w, tensor(new Float32Array(3), [3], { device: d })), /bias must be \[4\].*got \[3\]/);
  fails(() => matmulBias(x, w, tensor(new Float32Array(4), [1, 4], { device: d })), /bias must be \[4\].*got \[1, 4\]/);
  fails(() => matmulBias(tensor(new Float32Array(8), [2, 4], { device: d }), w, b), /x must be \[\.\.\., 3\].*got \[2, 4\]/);
  fails(() => matmulBias(tensor(new Int32Array(6), [2, 3], { device: d, dtype: 'int32' }), w, b), /float32/);
});
