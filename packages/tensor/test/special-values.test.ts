/**
 * Special values and bad arguments (issue 19, items 13-15): NaN propagates and log of a negative
 * is NaN identically on both devices, as IEEE and PyTorch say; out-of-range indices raise the
 * same error on both devices; malformed arguments raise a TensorError naming the argument.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as T from '../src/index.js';
import { TensorError, type Device, type Tensor } from '../src/index.js';
import { testDevices } from './helpers.js';

const devices = testDevices();

/** NaN-aware closeness: NaN only matches NaN, infinities match exactly. */
function assertSpecial(got: ArrayLike<number>, want: ArrayLike<number>, what: string, rtol = 2e-6): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const ok = Number.isNaN(w) ? Number.isNaN(g) : Number.isFinite(w) ? Math.abs(g - w) <= 1e-30 + rtol * Math.abs(w) : g === w;
    assert.ok(ok, `${what}: element ${i} is ${g}, expected ${w}`);
  }
}

const f32 = (x: number): number => Math.fround(x);
// Normal floats only: WebGPU may flush subnormals to zero (WGSL allows it).
const SPECIAL = [NaN, Infinity, -Infinity, -1, -0, 0, 2, -2, 0.5, 100, -100];
const read = async (t: Tensor): Promise<number[]> => Array.from(await t.data());

/** float64 definitions of each op, rounded to float32: PyTorch's answers for these inputs. */
const UNARY: Record<string, (x: number) => number> = {
  neg: (x) => -x,
  exp: (x) => (x < -87 ? 0 : Math.exp(x)), // the subnormal tail is flushed on WebGPU; exp(-100) is 3.7e-44
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  tanh: Math.tanh,
  sigmoid: (x) => (x < -87 ? 0 : 1 / (1 + Math.exp(-x))),
  relu: (x) => (Number.isNaN(x) ? NaN : x > 0 ? x : 0),
  elu: (x) => (x > 0 ? x : Math.expm1(x)),
  gelu: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
  abs: Math.abs,
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  sin: Math.sin,
  cos: Math.cos,
};

test('unary ops propagate NaN and follow IEEE at infinities, zero and negatives, on both devices', async () => {
  for (const device of await devices) {
    const x = T.tensor(Float32Array.from(SPECIAL), [SPECIAL.length], { device });
    for (const [name, f] of Object.entries(UNARY)) {
      const op = (T as unknown as Record<string, (t: Tensor) => Tensor>)[name]!;
      const want = SPECIAL.map((v) => f32(f(v)));
      assertSpecial(await read(op(x)), want, `${device.kind} ${name}`, name === 'sin' || name === 'cos' || name === 'gelu' ? 1e-5 : 2e-6);
    }
    assertSpecial(await read(T.clamp(x, -1, 1)), SPECIAL.map((v) => (Number.isNaN(v) ? NaN : Math.min(1, Math.max(-1, v)))), `${device.kind} clamp`);
    assertSpecial(await read(T.powScalar(x, 0)), SPECIAL.map(() => 1), `${device.kind} x^0`);
    assertSpecial(await read(T.powScalar(x, 3)), SPECIAL.map((v) => f32(v ** 3)), `${device.kind} x^3`, 1e-5);
    assertSpecial(await read(T.powScalar(x, 0.5)), SPECIAL.map((v) => f32(Math.pow(v, 0.5))), `${device.kind} x^0.5`, 1e-5);
  }
});

test('the cases issue 19 lists: log(-1), relu(NaN), clamp/maximum/max/argmax/logsumexp with NaN', async () => {
  for (const device of await devices) {
    const t = (a: number[], s = [a.length]): Tensor => T.tensor(Float32Array.from(a), s, { device });
    assertSpecial(await read(T.log(t([-1]))), [NaN], `${device.kind} log(-1)`);
    assertSpecial(await read(T.relu(t([NaN]))), [NaN], `${device.kind} relu(NaN)`);
    assertSpecial(await read(T.clamp(t([NaN]), 0, 1)), [NaN], `${device.kind} clamp(NaN)`);
    assertSpecial(await read(T.maximum(t([NaN, 1, 2]), t([1, NaN, 1]))), [NaN, NaN, 2], `${device.kind} maximum`);
    assertSpecial(await read(T.minimum(t([NaN, 1, 2]), t([1, NaN, 1]))), [NaN, NaN, 1], `${device.kind} minimum`);
    const rows = t([NaN, 1, 1, NaN, 5, 3, -Infinity, -Infinity], [4, 2]);
    assertSpecial(await read(T.max(rows, -1)), [NaN, NaN, 5, -Infinity], `${device.kind} max`);
    assertSpecial(await read(T.min(rows, -1)), [NaN, NaN, 3, -Infinity], `${device.kind} min`);
    assert.deepEqual(await read(T.argmax(rows, -1)), [0, 1, 0, 0], `${device.kind} argmax: the NaN's index, as PyTorch`);
    assertSpecial(await read(T.logsumexp(t([NaN, 1, -Infinity, -Infinity, Infinity, 1, Infinity, -Infinity], [4, 2]), -1)), [NaN, -Infinity, Infinity, Infinity], `${device.kind} logsumexp`);
    // Long rows take the workgroup tree reduction.
    const long = new Float32Array(2 * 700).map((_, i) => i % 700);
    long[123] = NaN;
    long[700 + 650] = NaN;
    long[700 + 651] = NaN;
    const lt = t(Array.from(long), [2, 700]);
    assertSpecial(await read(T.max(lt, -1)), [NaN, NaN], `${device.kind} max (tree)`);
    assertSpecial(await read(T.min(lt, -1)), [NaN, NaN], `${device.kind} min (tree)`);
    assert.deepEqual(await read(T.argmax(lt, -1)), [123, 650], `${device.kind} argmax (tree): the first NaN`);
    // A NaN condition counts as true (NaN != 0), as on the CPU and in PyTorch's bool(NaN).
    assertSpecial(await read(T.where(t([NaN, 0, 1, -0]), t([1, 1, 1, 1]), t([2, 2, 2, 2]))), [1, 2, 1, 2], `${device.kind} where(NaN)`);
    const inf = new Float32Array(600).fill(1);
    inf[5] = Infinity;
    assertSpecial(await read(T.sum(t(Array.from(inf), [2, 300]), -1)), [Infinity, 300], `${device.kind} sum with +Infinity`);
  }
});

test('layerNorm and rmsNorm of large rows give the float64 answer, not 0 (x² overflowed float32)', async () => {
  const rows = [1e20, -1e20, 3e25, 1e25, 1, 2, 1e-30, 0];
  const ln = (a: number, b: number): number[] => {
    const m = (a + b) / 2;
    const v = ((a - m) ** 2 + (b - m) ** 2) / 2;
    return [(a - m) / Math.sqrt(v + 1e-5), (b - m) / Math.sqrt(v + 1e-5)];
  };
  const rms = (a: number, b: number): number[] => [a / Math.sqrt((a * a + b * b) / 2 + 1e-6), b / Math.sqrt((a * a + b * b) / 2 + 1e-6)];
  const want = (f: (a: number, b: number) => number[]): number[] => [0, 2, 4, 6].flatMap((i) => f(rows[i]!, rows[i + 1]!));
  for (const device of await devices) {
    const x = T.tensor(Float32Array.from(rows), [4, 2], { device, requiresGrad: true });
    assertSpecial(await read(T.layerNorm(x)), want(ln), `${device.kind} layerNorm`, 1e-5);
    const y = T.rmsNorm(x);
    assertSpecial(await read(y), want(rms), `${device.kind} rmsNorm`, 1e-5);
    // The gradient is that of the unscaled formula: for rows [1, 2] and [1e-30, 0] it is ordinary.
    T.sum(T.mul(y, T.tensor(Float32Array.from([0, 0, 0, 0, 1, 0, 0, 0]), [4, 2], { device }))).backward();
    const g = await read(x.grad!);
    const [a, b] = [1, 2];
    const r = Math.sqrt((a * a + b * b) / 2 + 1e-6);
    assertSpecial(g.slice(4, 6), [1 / r - (a * a) / (2 * r ** 3), -(a * b) / (2 * r ** 3)], `${device.kind} rmsNorm gradient`, 1e-5);
  }
});

async function rejectsNaming(p: () => Promise<unknown>, ...parts: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TensorError, `expected a TensorError, got ${String(e)}`);
    for (const s of parts) assert.ok(e.message.includes(s), `"${e.message}" should mention "${s}"`);
    return true;
  });
}

test('out-of-range indices raise the same error on both devices (embedding, pick, crossEntropy)', async () => {
  for (const device of await devices) {
    const table = T.randn([5, 3], { device, seed: 1 });
    const logits = T.randn([2, 3], { device, seed: 2 });
    const idx = (a: number[]): Tensor => T.tensor(Int32Array.from(a), [a.length], { device });
    // The CPU throws at the op; WebGPU at the next read (the kernel cannot wait for the host).
    const run = (f: () => Tensor) => async () => (await f().data());
    for (const bad of [5, -1, 2 ** 31 - 1, -(2 ** 31)]) {
      await rejectsNaming(run(() => T.embedding(table, idx([0, bad]))), 'embedding', `index ${bad} at position 1`, 'out of range for 5 rows');
      await rejectsNaming(run(() => T.pick(logits, idx([bad, 0]))), 'pick', `class index ${bad} at position 0`, 'out of range for 3 classes');
    }
    await rejectsNaming(run(() => T.crossEntropy(logits, idx([0, 3]))), 'pick', 'class index 3 at position 1', '3 classes');
    // The fault is reported once; the device keeps working.
    assert.deepEqual((await read(T.embedding(table, idx([4])))).length, 3);
    assert.equal((await read(T.pick(logits, idx([2, 1])))).length, 2);
    if (device.kind === 'webgpu') {
      // A fault is reported by whichever read comes next, even of another tensor (as CUDA's asserts).
      const bad = T.embedding(table, idx([7]));
      await rejectsNaming(() => device.sync(), 'embedding', 'index 7');
      bad.dispose();
    }
  }
});

function throwsNaming(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TensorError, `expected a TensorError, got ${String(e)}`);
    for (const s of parts) assert.ok(e.message.includes(s), `"${e.message}" should mention "${s}"`);
    return true;
  });
}

test('malformed arguments raise a TensorError naming the argument', async () => {
  for (const device of await devices) {
    const x = T.ones([2, 4], { device });
    throwsNaming(() => T.reshape(x, [-2, -3]), 'reshape', 'dim 0 is -2');
    throwsNaming(() => T.reshape(x, [1.5, 4]), 'reshape', 'dim 0 is 1.5');
    throwsNaming(() => T.reshape(x, [-1, -1]), 'reshape', 'at most one -1');
    for (const high of [-1, 0, 2 ** 40, 2.5, NaN]) throwsNaming(() => T.randint([3], high, { device }), 'randint', 'high', String(high));
    throwsNaming(() => T.tensor([[1, 'a' as unknown as number]], undefined, { device }), 'tensor', 'data[0][1]', 'string "a"');
    throwsNaming(() => T.tensor([[1, null as unknown as number]], undefined, { device }), 'tensor', 'data[0][1] is null');
    throwsNaming(() => T.arange(0, 10, 0, { device }), 'arange', 'step must not be 0');
    throwsNaming(() => T.arange(0, Infinity, 1, { device }), 'arange', 'end must be a finite number');
    throwsNaming(() => T.arange(0, NaN, 1, { device }), 'arange', 'end must be a finite number');
    throwsNaming(() => T.add(null as unknown as Tensor, x), 'add', 'first operand', 'null');
    throwsNaming(() => T.mul(x, undefined as unknown as Tensor), 'mul', 'second operand', 'undefined');
    throwsNaming(() => T.add([1, 2] as unknown as Tensor, x), 'add', 'first operand', 'array');
    throwsNaming(() => T.exp(null as unknown as Tensor), 'exp', 'x must be a Tensor');
    throwsNaming(() => T.matmul(x, {} as unknown as Tensor), 'matmul', 'b must be a Tensor');
    throwsNaming(() => T.sum(null as unknown as Tensor), 'sum', 'x must be a Tensor');
    throwsNaming(() => T.where(null as unknown as Tensor, x, x), 'where', 'cond must be a Tensor');
    const r = T.randint([1000], 2 ** 31, { device, seed: 3 });
    const d = await read(r);
    assert.ok(d.every((v) => Number.isInteger(v) && v >= 0), 'randint(2^31) stays in [0, 2^31)');
  }
});

export type { Device };
