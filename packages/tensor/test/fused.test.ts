// The CPU device's fused kernels (LayerNorm with its own backward; GELU and its gradient through
// one exp) and its strided fast paths, against float64 references on randomized shapes with
// edge sizes (1, odd, non-multiples of 4/8/16).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng, cpuDevice, gelu, layerNorm, matmul, mul, permute, rotary, slice, sum, tensor, add, type Tensor } from '../src/index.js';
import * as R from './reference.js';
import { SEED, assertClose, randomData } from './helpers.js';

const device = cpuDevice();

/** Central differences of sum(ref(x) * w) in float64 for every element of input `which`. */
function numericGrad(ref: (xs: R.F64[]) => R.F64, xs: R.F64[], which: number, w: Float64Array): Float64Array {
  const x = xs[which]!;
  const out = new Float64Array(x.d.length);
  const h = 1e-6;
  const loss = (): number => {
    const y = ref(xs);
    let s = 0;
    for (let i = 0; i < y.d.length; i++) s += y.d[i]! * w[i]!;
    return s;
  };
  for (let i = 0; i < x.d.length; i++) {
    const v = x.d[i]!;
    x.d[i] = v + h;
    const lp = loss();
    x.d[i] = v - h;
    const lm = loss();
    x.d[i] = v;
    out[i] = (lp - lm) / (2 * h);
  }
  return out;
}

test('layerNorm (CPU fused kernel): forward and gradients match float64 on randomized shapes, with and without affine', async () => {
  const rng = new Rng(SEED);
  const shapes: number[][] = [[1, 1], [1, 7], [3, 1], [2, 3, 5], [5, 16], [4, 33], [1, 2, 64], [6, 129]];
  for (let trial = 0; trial < 12; trial++) shapes.push([1 + rng.int(9), 1 + rng.int(70)]);
  for (const shape of shapes) {
    const D = shape.at(-1)!;
    for (const affine of ['both', 'weight', 'none'] as const) {
      const xd = randomData(rng, R.size(shape));
      // Offset rows so the mean is far from 0 (the two-pass variance matters).
      for (let i = 0; i < xd.length; i++) xd[i] = xd[i]! * 3 + 5;
      const wd = randomData(rng, D);
      const bd = randomData(rng, D);
      const x = tensor(xd, shape, { device, requiresGrad: true });
      const w = affine !== 'none' ? tensor(wd, [D], { device, requiresGrad: true }) : undefined;
      const b = affine === 'both' ? tensor(bd, [D], { device, requiresGrad: true }) : undefined;
      const y = layerNorm(x, w, b, 1e-5);
      const refs: R.F64[] = [R.f64(xd, shape), R.f64(wd, [D]), R.f64(bd, [D])];
      const ref = (xs: R.F64[]): R.F64 => R.layerNormRef(xs[0]!, w ? xs[1]! : null, b ? xs[2]! : null, 1e-5);
      const what = `layerNorm ${JSON.stringify(shape)} ${affine}`;
      assertClose(await y.data(), ref(refs).d, 2e-5, 2e-5, `${what} forward`);
      const g = randomData(rng, y.size);
      sum(mul(y, tensor(g, shape, { device }))).backward();
      const gw = Float64Array.from(g);
      const pairs: [Tensor | undefined, number][] = [[x, 0], [w, 1], [b, 2]];
      for (const [t, j] of pairs) {
        if (!t) continue;
        const want = numericGrad(ref, refs, j, gw);
        assertClose(await t.grad!.data(), want, 1e-3, 2e-3, `${what} d/d(input ${j})`);
      }
    }
  }
});

test('gelu (CPU fast path): value and gradient match float64 tanh GELU, including extremes and NaN', async () => {
  const rng = new Rng(SEED + 1);
  const special = [0, -0, 1e-8, -1e-8, 3, -3, 10, -10, 30, -30, 1e4, -1e4, Infinity, NaN];
  // Short arrays take the JS loop; from 1024 elements the bulk runs in WebAssembly SIMD (float32
  // math): the special values are placed first so they land in the SIMD part too.
  for (const n of [1, 5, 16, 17, 1000, 1021, 4096, 5003]) {
    const data = randomData(rng, n);
    for (let i = 0; i < data.length; i++) data[i] = data[i]! * 4;
    const all = Float32Array.from(n >= 1021 ? [...special, ...data, ...special] : [...data, ...special]);
    const x = tensor(all, [all.length], { device, requiresGrad: true });
    const y = gelu(x);
    const want = Array.from(all, (v) => R.GELU(v));
    assertClose(await y.data(), want, 1e-6, 1e-5, `gelu n=${n}`);
    sum(y).backward();
    const grad = await x.grad!.data();
    const c = Math.sqrt(2 / Math.PI);
    // The formula itself at ±Infinity gives NaN (Infinity · 0), as unaryFn('geluGrad') does.
    const dwant = Array.from(all, (v) => {
      const t = Math.tanh(c * (v + 0.044715 * v ** 3));
      return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v);
    });
    assertClose(grad, dwant, 1e-6, 1e-5, `gelu' n=${n}`);
  }
});

test('strided copies and broadcast binaries (CPU): permute, slice and broadcast add match index arithmetic', async () => {
  const rng = new Rng(SEED + 2);
  for (let trial = 0; trial < 20; trial++) {
    const shape = [1 + rng.int(5), 1 + rng.int(6), 1 + rng.int(7), 1 + rng.int(4)];
    const xd = randomData(rng, R.size(shape));
    const x = tensor(xd, shape, { device });
    const perm = [0, 1, 2, 3].sort(() => rng.uniform() - 0.5);
    assert.deepEqual(Array.from(await permute(x, perm).data()), Array.from(R.permuteRef(R.f64(xd, shape), perm).d), `permute ${perm}`);
    const begin = shape.map((d) => rng.int(d));
    const size = shape.map((d, i) => 1 + rng.int(d - begin[i]!));
    assert.deepEqual(Array.from(await slice(x, begin, size).data()), Array.from(R.sliceRef(R.f64(xd, shape), begin, size).d), `slice ${begin} ${size}`);
    // Broadcast against a shape with some dims set to 1.
    const bshape = shape.map((d) => (rng.uniform() < 0.5 ? 1 : d));
    const bd = randomData(rng, R.size(bshape));
    const got = await add(x, tensor(bd, bshape, { device })).data();
    const want = R.zip(R.f64(xd, shape), R.f64(bd, bshape), (p, q) => Math.fround(Math.fround(p) + Math.fround(q)));
    assert.deepEqual(Array.from(got), Array.from(want.d, (v) => Math.fround(v)), `add ${JSON.stringify(shape)} + ${JSON.stringify(bshape)}`);
  }
});

test('rotary (CPU fused kernel): forward and gradient match float64, full and partial rotary dims, offsets', async () => {
  const rng = new Rng(SEED + 3);
  const cases: { shape: number[]; rd?: number; offset: number }[] = [
    { shape: [1, 2], offset: 0 }, { shape: [3, 2], offset: 5 }, { shape: [2, 5, 6], offset: 0 }, { shape: [2, 3, 7, 8], offset: 3 },
    { shape: [4, 10], rd: 4, offset: 1 }, { shape: [1, 9, 34], offset: 0 }, { shape: [2, 6, 12], rd: 8, offset: 2 },
  ];
  for (const c of cases) {
    const xd = randomData(rng, R.size(c.shape));
    const x = tensor(xd, c.shape, { device, requiresGrad: true });
    const y = rotary(x, { offset: c.offset, ...(c.rd ? { rotaryDim: c.rd } : {}) });
    const dim = c.shape.at(-1)!;
    const rd = c.rd ?? dim;
    // Reference: rotate the first rd features (rotaryRef on that slice), pass the rest through.
    const ref = (xs: R.F64[]): R.F64 => {
      const xx = xs[0]!;
      if (rd === dim) return R.rotaryRef(xx, 10000, c.offset);
      const lead = xx.s.slice(0, -1);
      const head = R.rotaryRef(R.sliceRef(xx, xx.s.map(() => 0), [...lead, rd]), 10000, c.offset);
      const tail = R.sliceRef(xx, [...lead.map(() => 0), rd], [...lead, dim - rd]);
      return R.concatRef([head, tail], xx.s.length - 1);
    };
    const refs = [R.f64(xd, c.shape)];
    const what = `rotary ${JSON.stringify(c)}`;
    assertClose(await y.data(), ref(refs).d, 1e-5, 1e-5, `${what} forward`);
    const g = randomData(rng, y.size);
    sum(mul(y, tensor(g, c.shape, { device }))).backward();
    assertClose(await x.grad!.data(), numericGrad(ref, refs, 0, Float64Array.from(g)), 1e-4, 1e-3, `${what} gradient`);
  }
});

test('matmul with a weight shared across the batch (one folded product each way): forward and gradients match float64', async () => {
  const rng = new Rng(SEED + 4);
  const sizes = [1, 3, 4, 7, 8, 9, 17, 33];
  for (let trial = 0; trial < 14; trial++) {
    const m = sizes[rng.int(sizes.length)]!;
    const k = sizes[rng.int(sizes.length)]!;
    const n = sizes[rng.int(sizes.length)]!;
    const lead = trial % 3 === 0 ? [1 + rng.int(3), 1 + rng.int(3)] : [1 + rng.int(5)];
    const transB = trial % 2 === 1;
    const aShape = [...lead, m, k];
    const bShape = transB ? [n, k] : [k, n];
    const ad = randomData(rng, R.size(aShape));
    const bd = randomData(rng, R.size(bShape));
    const a = tensor(ad, aShape, { device, requiresGrad: true });
    const b = tensor(bd, bShape, { device, requiresGrad: true });
    const y = matmul(a, b, { transB });
    const ref = (xs: R.F64[]): R.F64 => R.matmulRef(xs[0]!, xs[1]!, false, transB);
    const refs = [R.f64(ad, aShape), R.f64(bd, bShape)];
    const what = `matmul ${JSON.stringify(aShape)} @ ${JSON.stringify(bShape)}${transB ? 'ᵀ' : ''}`;
    assertClose(await y.data(), ref(refs).d, 1e-4, 1e-4, `${what} forward`);
    const g = randomData(rng, y.size);
    sum(mul(y, tensor(g, y.shape, { device }))).backward();
    const gw = Float64Array.from(g);
    assertClose(await a.grad!.data(), numericGrad(ref, refs, 0, gw), 1e-3, 1e-3, `${what} d/da`);
    assertClose(await b.grad!.data(), numericGrad(ref, refs, 1, gw), 1e-3, 1e-3, `${what} d/db`);
  }
});
