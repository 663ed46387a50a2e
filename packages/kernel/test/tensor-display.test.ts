import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { KernelCore, type KernelOutput } from '../src/index.js';

function kernel(): { k: KernelCore; out: KernelOutput[] } {
  const out: KernelOutput[] = [];
  return { k: new KernelCore({ send: (m) => out.push(m) }), out };
}

const result = (out: KernelOutput[]): Record<string, unknown> => {
  const r = out.find((o) => o.type === 'execute_result');
  assert.ok(r && r.type === 'execute_result', JSON.stringify(out));
  return r.data;
};

test('a CPU tensor shows its values under a header with dtype, shape, device and requiresGrad', async () => {
  const { k, out } = kernel();
  const r = await k.execute("import { tensor, arange, reshape, randn, cpuDevice } from '@attnlab/tensor';\ntensor([[1, 2, 3], [4, 5, 6]], undefined, { device: cpuDevice() })");
  assert.equal(r.status, 'ok', JSON.stringify(r));
  const d = result(out);
  assert.equal(d['text/plain'], 'Tensor(float32 [2, 3] on cpu)\n[[1., 2., 3.],\n [4., 5., 6.]]');
  assert.match(String(d['text/html']), /<table class="attnlab-tensor"[^>]*>.*<td[^>]*>6\.<\/td><\/tr><\/table>$/);
  out.length = 0;
  await k.execute('const w = randn([2, 2], { seed: 1, device: cpuDevice() }).requireGrad();\nconsole.log(w);\nw');
  const log = out.find((o) => o.type === 'stream');
  assert.match(log?.type === 'stream' ? log.text : '', /^Tensor\(float32 \[2, 2\] on cpu, requiresGrad\)\n\[\[ ?-?\d\.\d{4}, +-?\d\.\d{4}\],\n \[ ?-?\d\.\d{4}, +-?\d\.\d{4}\]\]\n$/);
  // Big tensors: head and tail of each dimension with ellipses, like NumPy and PyTorch.
  out.length = 0;
  await k.execute('reshape(arange(0, 2000, 1, { device: cpuDevice() }), [40, 50])');
  const big = String(result(out)['text/plain']);
  const lines = big.split('\n');
  assert.equal(lines[0], 'Tensor(float32 [40, 50] on cpu)');
  assert.equal(lines[1], '[[   0.,    1.,    2.,  ...,   47.,   48.,   49.],');
  assert.equal(lines.at(-1), ' [1950., 1951., 1952.,  ..., 1997., 1998., 1999.]]');
  assert.ok(lines.includes(' ...,'), big);
  assert.ok(lines.length <= 9, `${lines.length} lines`);
  assert.match(String(result(out)['text/html']), /<th[^>]*>…<\/th>/);
  // Small magnitudes switch to scientific notation; a scalar is one number.
  out.length = 0;
  await k.execute('tensor([1e-6, 0.5, 2], undefined, { device: cpuDevice() })');
  assert.equal(String(result(out)['text/plain']).split('\n')[1], '[1.0000e-06, 5.0000e-01, 2.0000e+00]');
});

test('a WebGPU tensor (SwiftShader here) shows its values: the result awaits the read, display() updates in place', async () => {
  const { k, out } = kernel();
  const r = await k.execute("import { tensor, getDevice } from '@attnlab/tensor';\nconst g = await getDevice({ prefer: 'webgpu' });\nconst t = tensor([[1.5, -2], [0.25, 8]], undefined, { device: g });\nt");
  assert.equal(r.status, 'ok', JSON.stringify(r));
  assert.equal(result(out)['text/plain'], 'Tensor(float32 [2, 2] on webgpu)\n[[ 1.5000, -2.0000],\n [ 0.2500,  8.0000]]');
  out.length = 0;
  await k.execute('display(t);');
  const first = out.find((o) => o.type === 'display_data');
  assert.ok(first?.type === 'display_data');
  assert.match(String(first.data['text/plain']), /^Tensor\(float32 \[2, 2\] on webgpu\)\n\(values on webgpu: `await t\.array\(\)` reads them\)$/);
  for (let i = 0; i < 50 && !out.some((o) => o.type === 'update_display_data'); i++) await sleep(20);
  const upd = out.find((o) => o.type === 'update_display_data');
  assert.ok(upd?.type === 'update_display_data' && upd.displayId === first.displayId, JSON.stringify(out));
  assert.match(String(upd.data['text/plain']), /\[\[ 1\.5000, -2\.0000\],/);
});

test('a display handle updated with WebGPU tensors ends on the newest one, values filled in', async () => {
  const { k, out } = kernel();
  const r = await k.execute("import { tensor, getDevice } from '@attnlab/tensor';\nconst g = await getDevice({ prefer: 'webgpu' });\nconst h = display(tensor([1], undefined, { device: g }));\nfor (let i = 2; i <= 5; i++) h.update(tensor([i], undefined, { device: g }));");
  assert.equal(r.status, 'ok', JSON.stringify(r));
  const done = (): boolean => out.some((o) => o.type === 'update_display_data' && /\n\[5\.\]$/.test(String(o.data['text/plain'])));
  for (let i = 0; i < 100 && !done(); i++) await sleep(20);
  await sleep(100);
  const texts = out.filter((o) => o.type === 'update_display_data').map((o) => String(o.type === 'update_display_data' && o.data['text/plain']));
  assert.match(texts.at(-1)!, /^Tensor\(float32 \[1\] on webgpu\)\n\[5\.\]$/, texts.join(' | '));
  // Values of the older tensors may arrive only while they are still the newest: never after [5.].
  assert.equal(texts.filter((t) => /\n\[[1-4]\.\]$/.test(t) && texts.indexOf(t) > texts.findIndex((x) => /\n\[5\.\]$/.test(x))).length, 0);
});

const kernelIndex = fileURLToPath(new URL('../src/index.js', import.meta.url));

/** A fresh process (module state, once-per-kernel notices) running cells in a kernel core. */
function freshKernel(cells: string[], env: Record<string, string | undefined>): { outputs: KernelOutput[]; stderr: string } {
  const script = `
    import { KernelCore } from ${JSON.stringify(kernelIndex)};
    const outputs = [];
    const k = new KernelCore({ send: (m) => outputs.push(m) });
    for (const c of ${JSON.stringify(cells)}) await k.execute(c);
    process.stdout.write(JSON.stringify(outputs));
    process.exit(0);`;
  const childEnv = { ...process.env, ...env };
  for (const [key, v] of Object.entries(env)) if (v === undefined) delete childEnv[key];
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: childEnv, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return { outputs: JSON.parse(r.stdout) as KernelOutput[], stderr: r.stderr };
}

test('the CPU-fallback notice is one informational stdout line per kernel, not stderr on every getDevice()', () => {
  const { outputs } = freshKernel([
    "import { getDevice } from '@attnlab/tensor';\nconst a = await getDevice();\nconst b = await getDevice();",
    'const c = await getDevice(); [a.kind, b.kind, c.kind, (await getDevice({ prefer: "webgpu" }).catch(() => null))?.isSoftware ?? "none"]',
  ], { ATTNLAB_DEVICE: undefined });
  const res = outputs.find((o) => o.type === 'execute_result');
  const kinds = String(res?.type === 'execute_result' && res.data['text/plain']);
  const streams = outputs.filter((o) => o.type === 'stream');
  assert.equal(streams.filter((s) => s.type === 'stream' && s.name === 'stderr').length, 0, JSON.stringify(streams));
  if (kinds.startsWith("[ 'cpu'")) {
    assert.equal(streams.length, 1, JSON.stringify(streams));
    assert.match(streams[0]!.type === 'stream' ? streams[0]!.text : '', /^attnlab: computing on the CPU: (the only WebGPU adapter is a software one .*|no WebGPU adapter was found)\. getDevice\(\{ prefer: 'webgpu' \}\) or ATTNLAB_DEVICE=webgpu uses WebGPU anyway\.\n$/);
  } else {
    assert.equal(streams.length, 0, `a hardware GPU (${kinds}) needs no notice`);
  }
});

test('opening WebGPU in Node says nothing on stderr (no Vulkan shaderUniform*ArrayDynamicIndexing warning from lavapipe)', () => {
  const { outputs, stderr } = freshKernel(["import { getDevice } from '@attnlab/tensor';\n(await getDevice({ prefer: 'webgpu' })).kind"], { VK_ICD_FILENAMES: undefined, VK_DRIVER_FILES: undefined });
  const res = outputs.find((o) => o.type === 'execute_result');
  assert.equal(res?.type === 'execute_result' && res.data['text/plain'], '"webgpu"', JSON.stringify(outputs));
  assert.doesNotMatch(stderr, /shaderUniform|ArrayDynamicIndexing|Warning/);
});
