import { before, describe, test } from 'node:test';
import {
  Rng, abs, add, argmax, broadcastTo, clamp, concat, cos, crossEntropy, div, elu, embedding, equal, exp, gelu,
  greater, layerNorm, log, logsumexp, logSoftmax, matmul, max, maximum, mean, min, minimum, mul, mulScalar, neg,
  permute, pick, pow, powScalar, reciprocal, relu, reshape, rmsNorm, rotary, rsqrt, scope, sigmoid, sin, slice,
  softmax, sqrt, square, sub, sum, tanh, tensor, transpose, where, addScalar, variance,
  type Device, type Tensor,
} from '../src/index.js';
import * as R from './reference.js';
import { SEED, assertClose, pair, pickOne, randomData, testDevices } from './helpers.js';

interface Input {
  shape: number[];
  kind?: 'any' | 'pos';
  /** Integer inputs (indices) are built by the case itself. */
  grad?: boolean;
}

interface Case {
  name: string;
  /** Random shapes for the inputs of one trial. */
  shapes: (rng: Rng) => Input[];
  ours: (xs: Tensor[], device: Device) => Tensor;
  ref: (xs: R.F64[]) => R.F64;
  /** false: no gradient (comparisons, argmax). */
  grad?: boolean;
}

const DIMS = [1, 2, 3, 5, 7, 8, 17];
const MM = [1, 7, 16, 33, 65];
const dim = (rng: Rng): number => pickOne(rng, DIMS);
const shapeOf = (rng: Rng, rank: number): number[] => Array.from({ length: rank }, () => dim(rng));

/** A pair of shapes that broadcast against each other (some dims set to 1 or dropped). */
function broadcastPair(rng: Rng): [number[], number[]] {
  const rank = 1 + rng.int(4);
  const a = shapeOf(rng, rank);
  const b = a.map((d) => (rng.uniform() < 0.3 ? 1 : d));
  const drop = rng.int(rank);
  return rng.uniform() < 0.5 ? [a, b.slice(drop)] : [b.slice(drop), a];
}

const unaryCases: [string, (x: Tensor) => Tensor, (v: number) => number, 'any' | 'pos'][] = [
  ['neg', neg, (v) => -v, 'any'],
  ['exp', exp, Math.exp, 'any'],
  ['log', log, Math.log, 'pos'],
  ['sqrt', sqrt, Math.sqrt, 'pos'],
  ['rsqrt', rsqrt, (v) => 1 / Math.sqrt(v), 'pos'],
  ['tanh', tanh, Math.tanh, 'any'],
  ['sigmoid', sigmoid, (v) => 1 / (1 + Math.exp(-v)), 'any'],
  ['relu', relu, (v) => Math.max(v, 0), 'any'],
  ['elu', elu, (v) => (v > 0 ? v : Math.expm1(v)), 'any'],
  ['gelu', gelu, R.GELU, 'any'],
  ['abs', abs, Math.abs, 'any'],
  ['square', square, (v) => v * v, 'any'],
  ['reciprocal', reciprocal, (v) => 1 / v, 'pos'],
  ['sin', sin, Math.sin, 'any'],
  ['cos', cos, Math.cos, 'any'],
  ['powScalar(2.5)', (x) => powScalar(x, 2.5), (v) => v ** 2.5, 'pos'],
  ['mulScalar(-1.5)', (x) => mulScalar(x, -1.5), (v) => v * -1.5, 'any'],
  ['addScalar(0.25)', (x) => addScalar(x, 0.25), (v) => v + 0.25, 'any'],
  ['clamp(-0.5, 0.7)', (x) => clamp(x, -0.5, 0.7), (v) => Math.min(Math.max(v, -0.5), 0.7), 'any'],
];

const binaryCases: [string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number, 'any' | 'pos', boolean][] = [
  ['add', add, (x, y) => x + y, 'any', true],
  ['sub', sub, (x, y) => x - y, 'any', true],
  ['mul', mul, (x, y) => x * y, 'any', true],
  ['div', div, (x, y) => x / y, 'pos', true],
  ['maximum', maximum, Math.max, 'any', true],
  ['minimum', minimum, Math.min, 'any', true],
  ['pow', pow, Math.pow, 'pos', true],
  ['equal', equal, (x, y) => (x === y ? 1 : 0), 'any', false],
  ['greater', greater, (x, y) => (x > y ? 1 : 0), 'any', false],
];

function lastAxis(x: R.F64): number {
  return x.s.length - 1;
}

const cases: Case[] = [
  ...unaryCases.map(([name, f, g, kind]): Case => ({
    name,
    shapes: (rng) => [{ shape: shapeOf(rng, 1 + rng.int(3)), kind }],
    ours: ([x]) => f(x!),
    ref: ([x]) => R.map(x!, g),
  })),
  ...binaryCases.map(([name, f, g, kind, grad]): Case => ({
    name,
    shapes: (rng) => broadcastPair(rng).map((shape) => ({ shape, kind })),
    ours: ([a, b]) => f(a!, b!),
    ref: ([a, b]) => R.zip(a!, b!, g),
    grad,
  })),
  {
    name: 'where',
    shapes: (rng) => {
      const [a, b] = broadcastPair(rng);
      return [{ shape: a, grad: false }, { shape: a }, { shape: b }];
    },
    ours: ([c, a, b]) => where(greater(c!, 0), a!, b!),
    ref: ([c, a, b]) => R.where3(R.map(c!, (v) => (v > 0 ? 1 : 0)), a!, b!),
  },
  ...(['sum', 'mean', 'max', 'min', 'logsumexp'] as const).map((op): Case => ({
    name: `${op} over axes`,
    shapes: (rng) => [{ shape: [...shapeOf(rng, 1 + rng.int(3)), 1 + rng.int(9)] }],
    ours: ([x]) => {
      const axes = x!.rank > 1 ? [0, x!.rank - 1] : [0];
      const f = { sum, mean, max, min, logsumexp }[op];
      return f(x!, axes, false);
    },
    ref: ([x]) => {
      const axes = x!.s.length > 1 ? [0, x!.s.length - 1] : [0];
      const n = axes.reduce((p, a) => p * x!.s[a]!, 1);
      const r = op === 'sum' ? R.rsum(x!, axes)
        : op === 'mean' ? R.map(R.rsum(x!, axes), (v) => v / n)
        : op === 'max' ? R.rmax(x!, axes)
        : op === 'min' ? R.rmin(x!, axes)
        : R.logsumexpRef(x!, axes);
      return R.squeezeAxes(r, axes);
    },
  })),
  {
    name: 'sum of everything',
    shapes: (rng) => [{ shape: shapeOf(rng, 1 + rng.int(3)) }],
    ours: ([x]) => sum(x!),
    ref: ([x]) => R.squeezeAxes(R.rsum(x!, x!.s.map((_, i) => i)), x!.s.map((_, i) => i)),
  },
  {
    name: 'variance (last axis, keepDims)',
    shapes: (rng) => [{ shape: [dim(rng), 2 + rng.int(30)] }],
    ours: ([x]) => variance(x!, -1, true),
    ref: ([x]) => {
      const n = x!.s[1]!;
      const mu = R.map(R.rsum(x!, [1]), (v) => v / n);
      return R.map(R.rsum(R.zip(x!, mu, (a, b) => (a - b) ** 2), [1]), (v) => v / n);
    },
  },
  {
    name: 'softmax',
    shapes: (rng) => [{ shape: [...shapeOf(rng, 1 + rng.int(2)), 1 + rng.int(70)] }],
    ours: ([x]) => softmax(mulScalar(x!, 3), -1),
    ref: ([x]) => R.softmaxRef(R.map(x!, (v) => 3 * v), lastAxis(x!)),
  },
  {
    name: 'logSoftmax over axis 0',
    shapes: (rng) => [{ shape: [1 + rng.int(20), dim(rng)] }],
    ours: ([x]) => logSoftmax(x!, 0),
    ref: ([x]) => R.zip(x!, R.logsumexpRef(x!, [0]), (a, b) => a - b),
  },
  {
    name: 'matmul (batched, broadcast, transposed)',
    shapes: (rng) => {
      const m = pickOne(rng, MM);
      const k = pickOne(rng, MM);
      const n = pickOne(rng, MM);
      const batch = rng.uniform() < 0.5 ? [] : [1 + rng.int(3)];
      const bBatch = rng.uniform() < 0.3 ? [] : batch;
      return [{ shape: [...batch, m, k] }, { shape: [...bBatch, k, n] }];
    },
    ours: ([a, b]) => matmul(a!, b!),
    ref: ([a, b]) => R.matmulRef(a!, b!),
  },
  {
    name: 'matmul transA/transB',
    shapes: (rng) => {
      const m = pickOne(rng, MM);
      const k = pickOne(rng, MM);
      const n = pickOne(rng, MM);
      const batch = [1 + rng.int(2)];
      return [{ shape: [...batch, k, m] }, { shape: [...batch, n, k] }];
    },
    ours: ([a, b]) => matmul(a!, b!, { transA: true, transB: true }),
    ref: ([a, b]) => R.matmulRef(a!, b!, true, true),
  },
  {
    name: 'reshape + permute',
    shapes: (rng) => [{ shape: shapeOf(rng, 3) }],
    ours: ([x]) => permute(reshape(x!, [x!.shape[0]!, -1, x!.shape[2]!]), [2, 0, 1]),
    ref: ([x]) => R.permuteRef(x!, [2, 0, 1]),
  },
  {
    name: 'transpose',
    shapes: (rng) => [{ shape: shapeOf(rng, 2 + rng.int(2)) }],
    ours: ([x]) => transpose(x!),
    ref: ([x]) => {
      const p = x!.s.map((_, i) => i);
      const r = p.length;
      [p[r - 2], p[r - 1]] = [p[r - 1]!, p[r - 2]!];
      return R.permuteRef(x!, p);
    },
  },
  {
    name: 'slice',
    shapes: (rng) => [{ shape: shapeOf(rng, 1 + rng.int(3)).map((d) => d + 2) }],
    ours: ([x]) => slice(x!, x!.shape.map(() => 1), x!.shape.map((d) => d - 2)),
    ref: ([x]) => R.sliceRef(x!, x!.s.map(() => 1), x!.s.map((d) => d - 2)),
  },
  {
    name: 'concat',
    shapes: (rng) => {
      const s = shapeOf(rng, 2);
      const t = [...s];
      t[1] = dim(rng);
      return [{ shape: s }, { shape: t }, { shape: s }];
    },
    ours: ([a, b, c]) => concat([a!, b!, c!], 1),
    ref: ([a, b, c]) => R.concatRef([a!, b!, c!], 1),
  },
  {
    name: 'broadcastTo',
    shapes: (rng) => [{ shape: [1, dim(rng)] }],
    ours: ([x]) => broadcastTo(x!, [3, x!.shape[1]!]),
    ref: ([x]) => R.zip(x!, { d: new Float64Array(3 * x!.s[1]!), s: [3, x!.s[1]!] }, (a) => a),
  },
  {
    name: 'layerNorm',
    shapes: (rng) => {
      const d = 1 + rng.int(40);
      return [{ shape: [dim(rng), dim(rng), d] }, { shape: [d] }, { shape: [d] }];
    },
    ours: ([x, w, b]) => layerNorm(x!, w!, b!, 1e-5),
    ref: ([x, w, b]) => R.layerNormRef(x!, w!, b!, 1e-5),
  },
  {
    name: 'rmsNorm',
    shapes: (rng) => {
      const d = 1 + rng.int(40);
      return [{ shape: [dim(rng), d] }, { shape: [d] }];
    },
    ours: ([x, w]) => rmsNorm(x!, w!, 1e-6),
    ref: ([x, w]) => R.rmsNormRef(x!, w!, 1e-6),
  },
  {
    name: 'rotary',
    shapes: (rng) => [{ shape: [dim(rng), 1 + rng.int(9), 2 * (1 + rng.int(8))] }],
    ours: ([x]) => rotary(x!, { base: 10000, offset: 3 }),
    ref: ([x]) => R.rotaryRef(x!, 10000, 3),
  },
];

// Ops with integer inputs: embedding, pick, crossEntropy, argmax.
interface IntCase {
  name: string;
  run: (rng: Rng, device: Device) => { ours: Tensor; ref: R.F64; params: [Tensor, R.F64][]; refLoss: (xs: R.F64[]) => R.F64 } | null;
}

function ints(rng: Rng, n: number, high: number): number[] {
  return Array.from({ length: n }, () => rng.int(high));
}

const intCases: IntCase[] = [
  {
    name: 'embedding',
    run: (rng, device) => {
      const rows = 1 + rng.int(12);
      const cols = dim(rng);
      const idxShape = shapeOf(rng, 1 + rng.int(2));
      const idx = ints(rng, R.size(idxShape), rows);
      const [t, tr] = pairFrom(rng, [rows, cols], device);
      const it = tensor(Int32Array.from(idx), idxShape, { device });
      const f = (xs: R.F64[]): R.F64 => R.embeddingRef(xs[0]!, idx, idxShape);
      return { ours: embedding(t, it), ref: f([tr]), params: [[t, tr]], refLoss: f };
    },
  },
  {
    name: 'pick',
    run: (rng, device) => {
      const n = dim(rng);
      const c = dim(rng);
      const idx = ints(rng, n, c);
      const [t, tr] = pairFrom(rng, [n, c], device);
      const f = (xs: R.F64[]): R.F64 => R.f64(idx.map((j, i) => xs[0]!.d[i * c + j]!), [n]);
      return { ours: pick(t, tensor(Int32Array.from(idx), [n], { device })), ref: f([tr]), params: [[t, tr]], refLoss: f };
    },
  },
  {
    name: 'crossEntropy',
    run: (rng, device) => {
      const b = dim(rng);
      const n = dim(rng);
      const c = 2 + rng.int(40);
      const idx = ints(rng, b * n, c);
      const [t, tr] = pairFrom(rng, [b, n, c], device);
      const f = (xs: R.F64[]): R.F64 => R.f64([R.crossEntropyRef(xs[0]!, idx)], []);
      return { ours: crossEntropy(t, tensor(Int32Array.from(idx), [b, n], { device })), ref: f([tr]), params: [[t, tr]], refLoss: f };
    },
  },
];

function pairFrom(rng: Rng, shape: number[], device: Device): [Tensor, R.F64] {
  return pair(randomData(rng, R.size(shape)), shape, device, true);
}

/** Central differences of sum(ref(x) * w) in float64, for a sample of elements. */
function numericGrad(ref: (xs: R.F64[]) => R.F64, xs: R.F64[], which: number, w: Float64Array, rng: Rng): Map<number, number> {
  const out = new Map<number, number>();
  const x = xs[which]!;
  const h = 1e-6;
  const loss = (): number => {
    const y = ref(xs);
    let s = 0;
    for (let i = 0; i < y.d.length; i++) s += y.d[i]! * w[i]!;
    return s;
  };
  const n = x.d.length;
  const sample = n <= 24 ? [...Array(n).keys()] : Array.from({ length: 24 }, () => rng.int(n));
  for (const i of sample) {
    const v = x.d[i]!;
    x.d[i] = v + h;
    const lp = loss();
    x.d[i] = v - h;
    const lm = loss();
    x.d[i] = v;
    out.set(i, (lp - lm) / (2 * h));
  }
  return out;
}

async function checkGrads(name: string, ours: Tensor, params: [Tensor, R.F64][], refLoss: (xs: R.F64[]) => R.F64, rng: Rng): Promise<void> {
  const w = randomData(rng, ours.size);
  const wt = tensor(w, ours.shape, { device: ours.device });
  sum(mul(ours, wt)).backward();
  const refs = params.map(([, r]) => r);
  for (let j = 0; j < params.length; j++) {
    const [t] = params[j]!;
    if (!t.requiresGrad) continue;
    const num = numericGrad(refLoss, refs, j, Float64Array.from(w), rng);
    const g = t.grad ? await t.grad.data() : new Float32Array(t.size);
    const idx = [...num.keys()];
    assertClose(idx.map((i) => g[i]!), idx.map((i) => num.get(i)!), 2e-4, 2e-3, `${name} on ${t.device.kind}: d/d(input ${j})`);
  }
}

const TRIALS = 4;
let devices: Device[] = [];

before(async () => {
  devices = await testDevices();
  console.log(`# seed ${SEED}; devices: ${devices.map((d) => d.adapter).join(' | ')}`);
});

describe('tensor ops match the float64 reference, forward and backward, on every device', () => {
  for (const c of cases) {
    test(c.name, async () => {
      for (const device of devices) {
        const rng = new Rng(SEED + c.name.length * 7919);
        for (let trial = 0; trial < TRIALS; trial++) {
          await scope(async () => {
            const inputs = c.shapes(rng);
            const made = inputs.map((inp) => pair(randomData(rng, R.size(inp.shape), inp.kind), inp.shape, device, c.grad !== false && inp.grad !== false));
            const ours = c.ours(made.map(([t]) => t), device);
            const want = c.ref(made.map(([, r]) => r));
            const what = `${c.name} on ${device.kind} (shapes ${inputs.map((i) => JSON.stringify(i.shape)).join(', ')})`;
            if (JSON.stringify(ours.shape) !== JSON.stringify(want.s)) throw new Error(`${what}: shape ${JSON.stringify(ours.shape)} vs reference ${JSON.stringify(want.s)}`);
            assertClose(await ours.data(), want.d, 1e-5, 1e-5 * (c.name.startsWith('matmul') ? 4 : 1), what);
            if (c.grad !== false) await checkGrads(what, ours, made, c.ref, rng);
          });
        }
      }
    });
  }

  for (const c of intCases) {
    test(c.name, async () => {
      for (const device of devices) {
        const rng = new Rng(SEED + c.name.length * 104729);
        for (let trial = 0; trial < TRIALS; trial++) {
          await scope(async () => {
            const r = c.run(rng, device)!;
            const what = `${c.name} on ${device.kind}`;
            assertClose(await r.ours.data(), r.ref.d, 1e-5, 1e-5, what);
            await checkGrads(what, r.ours, r.params, r.refLoss, rng);
          });
        }
      }
    });
  }

  test('argmax', async () => {
    for (const device of devices) {
      const rng = new Rng(SEED + 5);
      const shape = [dim(rng), 1 + rng.int(30)];
      const data = randomData(rng, R.size(shape));
      const got = await argmax(tensor(data, shape, { device }), -1).data();
      for (let i = 0; i < shape[0]!; i++) {
        const row = Array.from(data.subarray(i * shape[1]!, (i + 1) * shape[1]!));
        if (got[i] !== row.indexOf(Math.max(...row))) throw new Error(`argmax row ${i} on ${device.kind}: ${got[i]}`);
      }
    }
  });
});

describe('WebGPU kernel variants', () => {
  test('the tiled (workgroup-memory) matmul matches float64 on edge sizes, transposes and batches', async () => {
    const gpu = devices.find((d) => d.kind === 'webgpu')!;
    const backend = gpu.backend as unknown as { matmulKernel: 'tiled' | 'simple' };
    const saved = backend.matmulKernel;
    backend.matmulKernel = 'tiled';
    try {
      const rng = new Rng(SEED + 77);
      for (let trial = 0; trial < 8; trial++) {
        await scope(async () => {
          const [m, k, n] = [pickOne(rng, [1, 7, 33, 64, 65, 130]), pickOne(rng, [1, 15, 16, 17, 64, 70]), pickOne(rng, [1, 5, 63, 64, 65])];
          const transA = rng.uniform() < 0.5;
          const transB = rng.uniform() < 0.5;
          const batch = 1 + rng.int(3);
          const aShape = [batch, transA ? k : m, transA ? m : k];
          const bShape = rng.uniform() < 0.3 ? [transB ? n : k, transB ? k : n] : [batch, transB ? n : k, transB ? k : n];
          const [a, ar] = pair(randomData(rng, R.size(aShape)), aShape, gpu);
          const [b, br] = pair(randomData(rng, R.size(bShape)), bShape, gpu);
          assertClose(await matmul(a, b, { transA, transB }).data(), R.matmulRef(ar, br, transA, transB).d, 1e-5, 4e-5, `tiled matmul m=${m} k=${k} n=${n} transA=${transA} transB=${transB}`);
        });
      }
    } finally {
      backend.matmulKernel = saved;
    }
  });

  test('long-axis reductions (workgroup tree) match float64', async () => {
    for (const device of devices) {
      const rng = new Rng(SEED + 99);
      for (const len of [257, 1000, 4099]) {
        await scope(async () => {
          const shape = [3, len, 2];
          const [x, xr] = pair(randomData(rng, R.size(shape)), shape, device);
          assertClose(await sum(x, 1).data(), R.rsum(xr, [1]).d, 1e-5, 1e-5, `sum over ${len} on ${device.kind}`);
          assertClose(await max(x, 1).data(), R.rmax(xr, [1]).d, 0, 0, `max over ${len} on ${device.kind}`);
          const am = await argmax(x, 1).data();
          const want = R.rmax(xr, [1]).d;
          for (let o = 0; o < 6; o++) {
            const i = Math.floor(o / 2) * len * 2 + (o % 2) + am[o]! * 2;
            if (xr.d[i] !== want[o]) throw new Error(`argmax over ${len} on ${device.kind}: position ${o}`);
          }
        });
      }
    }
  });
});
