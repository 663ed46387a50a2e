import assert from 'node:assert/strict';
import { CellLanguageService } from '../src/language.js';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { KernelCore, createInputBuffer, writeInput, splitMagics, type KernelOutput, type FromService } from '../src/index.js';

function kernel(): { k: KernelCore; out: KernelOutput[]; text: () => string } {
  const out: KernelOutput[] = [];
  const k = new KernelCore({ send: (m) => out.push(m) });
  const text = () => out.map((o) => (o.type === 'stream' ? o.text : o.type === 'execute_result' ? String(o.data['text/plain']) + '\n' : o.type === 'error' ? `${o.ename}: ${o.evalue}\n` : '')).join('');
  return { k, out, text };
}

test('magics split from code keep the line numbers of the code around them', () => {
  const parts = splitMagics('const a = 1;\n%time a + 1\nconst b = 2;');
  assert.deepEqual(parts.map((p) => p.kind), ['code', 'line', 'code']);
  assert.equal(parts[2]!.kind === 'code' && parts[2]!.code.split('\n').length, 3, 'the last code run starts on line 3');
  assert.deepEqual(splitMagics('%%time\nlet x = 1;\nx')[0], { kind: 'cell', name: 'time', args: '', body: '\nlet x = 1;\nx' });
});

test('%time, %%time, %who, %reset, %lsmagic; an unknown magic is a clear error and state survives', async () => {
  const { k, out, text } = kernel();
  const r1 = await k.execute('const big: number[] = [1, 2, 3];\n%time big.length * 2');
  assert.equal(r1.status, 'ok');
  assert.match(text(), /Wall time: [\d.]+ (µs|ms|s)\n/);
  assert.ok(out.some((o) => o.type === 'execute_result' && o.data['text/plain'] === '6'));
  await k.execute('%%time\nlet s = 0;\nfor (let i = 0; i < 1000; i++) s += i;\ns');
  assert.ok(out.some((o) => o.type === 'execute_result' && o.data['text/plain'] === '499500'));
  out.length = 0;
  await k.execute('class Probe {}\nconst pr = new Probe();\n%who');
  assert.match(text(), /big: Array\n/);
  assert.match(text(), /pr: Probe\n/);
  assert.match(text(), /Probe: class\n/);
  const bad = await k.execute('%nosuchmagic 1');
  assert.equal(bad.status === 'error' && bad.evalue, '%nosuchmagic: no such line magic (%lsmagic lists them)');
  assert.equal((await k.execute('big.length')).status, 'ok');
  out.length = 0;
  await k.execute('%lsmagic');
  for (const m of ['time', 'who', 'reset', 'plugin', 'device']) assert.match(text(), new RegExp(`%${m} `));
  await k.execute('%reset');
  const gone = await k.execute('big');
  assert.equal(gone.status === 'error' && gone.ename, 'ReferenceError');
});

test('%device names the WebGPU adapter (SwiftShader here) and the default device', async () => {
  const { k, text } = kernel();
  const r = await k.execute('%device');
  assert.equal(r.status, 'ok');
  assert.match(text(), /^webgpu: .+\n/m);
  assert.match(text(), /default device: (cpu|webgpu)/);
});

test('a package exporting attnlabPlugin is activated on import, once; its formatter and magic work', async () => {
  const modules: Record<string, Record<string, unknown>> = {
    'my-plugin': {
      attnlabPlugin: {
        id: 'my-plugin',
        activate(ctx: { registerDisplayFormatter(f: (v: unknown) => Record<string, unknown> | undefined): void; registerMagic(n: string, m: object): void; registerWidget(n: string, f: () => unknown): void }) {
          ctx.registerDisplayFormatter((v) => (v instanceof Map ? { 'text/plain': `Map with ${v.size} entries` } : undefined));
          ctx.registerMagic('double', { line: (args: string) => Number(args) * 2 });
          ctx.registerWidget('knob', () => 'a knob');
          activations++;
        },
      },
      helper: () => 7,
    },
    broken: { attnlabPlugin: { id: 'broken', activate() { throw new Error('no GPU for me'); } }, x: 1 },
  };
  let activations = 0;
  const out: KernelOutput[] = [];
  const k = new KernelCore({ send: (m) => out.push(m), importModule: async (s) => { const m = modules[s]; if (!m) throw new Error(`no module ${s}`); return m; } });
  await k.execute("import { helper } from 'my-plugin';\nhelper()");
  await k.execute("const again = await import('my-plugin');");
  assert.equal(activations, 1);
  await k.execute('new Map([[1, 2], [3, 4]])');
  assert.ok(out.some((o) => o.type === 'execute_result' && o.data['text/plain'] === 'Map with 2 entries'));
  await k.execute('%double 21');
  assert.ok(out.some((o) => o.type === 'execute_result' && o.data['text/plain'] === '42'));
  assert.equal(k.plugins.widgets.has('knob'), true);
  // A plugin that throws is reported; the import itself still works.
  const r = await k.execute("import { x } from 'broken';\nx");
  assert.equal(r.status, 'ok');
  assert.ok(out.some((o) => o.type === 'stream' && /plugin 'broken' failed to activate: no GPU for me/.test(o.text)));
  const p = await k.execute('%plugin nothing-here');
  assert.equal(p.status === 'error' && p.evalue, 'no module nothing-here');
});

test('display.html/markdown/json/png/svg send the right mime types; progress() updates one display in place', async () => {
  const { k, out } = kernel();
  await k.execute("display.html('<b>x</b>'); display.markdown('# t'); display.json({ a: 1 }); display.png(new Uint8Array([137, 80, 78, 71])); display.svg('<svg/>')");
  const kinds = out.filter((o) => o.type === 'display_data').map((o) => Object.keys(o.type === 'display_data' ? o.data : {}).filter((m) => m !== 'text/plain')[0]);
  assert.deepEqual(kinds, ['text/html', 'text/markdown', 'application/json', 'image/png', 'image/svg+xml']);
  const png = out.find((o) => o.type === 'display_data' && 'image/png' in o.data);
  assert.equal(png?.type === 'display_data' && png.data['image/png'], 'iVBORw==');
  out.length = 0;
  const r = await k.execute("let total = 0;\nfor (const i of progress([1, 2, 3, 4, 5], { label: 'steps', throttleMs: 0 })) total += i;\ntotal");
  assert.equal(r.status, 'ok');
  const first = out.find((o) => o.type === 'display_data');
  const updates = out.filter((o) => o.type === 'update_display_data');
  assert.ok(first && first.type === 'display_data' && first.displayId);
  assert.ok(updates.length >= 5);
  assert.ok(updates.every((u) => u.type === 'update_display_data' && u.displayId === (first.type === 'display_data' ? first.displayId : '')));
  const last = updates.at(-1)!;
  assert.match(String(last.type === 'update_display_data' && last.data['text/plain']), /^steps \[#{30}\] 5\/5/);
});

test('train() from @attnlab/models draws a progress bar with the loss through the kernel', async () => {
  const { k, out } = kernel();
  const r = await k.execute("import { Transformer, tasks, train } from '@attnlab/models';\nconst m = new Transformer({ vocabSize: 16, dModel: 8, nLayers: 1, nHeads: 2, nCtx: 16 }, { seed: 1 });\n(await train(m, tasks.induction({ vocabSize: 16, len: 4 }), { steps: 3, batchSize: 2, lr: 1e-3 })).steps");
  assert.equal(r.status, 'ok', JSON.stringify(r));
  const first = out.find((o) => o.type === 'display_data');
  assert.ok(first && first.type === 'display_data' && first.displayId, 'a bar was displayed');
  const last = out.filter((o) => o.type === 'update_display_data').at(-1);
  assert.match(String(last?.type === 'update_display_data' && last.data['text/plain']), /^train \[#{30}\] 3\/3 .*loss \d+\.\d{4}$/);
  out.length = 0;
  await k.execute("await train(m, tasks.induction({ vocabSize: 16, len: 4 }), { steps: 2, batchSize: 2, lr: 1e-3, progress: false }); 0");
  assert.equal(out.filter((o) => o.type === 'display_data' || o.type === 'update_display_data').length, 0, 'progress: false draws nothing');
});

test('expression-only cells are not kept as completion context; declarations of every kind are', () => {
  const ls = new CellLanguageService();
  ls.addCell('const keepMe = 1;', ['keepMe']);
  for (let i = 0; i < 20; i++) ls.addCell('keepMe + 1', []);
  ls.addCell('%time keepMe * 2', []);
  ls.addCell('interface Shape { w: number }', []);
  ls.addCell('if (keepMe) { var hoisted = 2 }', ['hoisted']);
  assert.equal(ls.historyLength, 3);
  assert.ok(ls.complete('keep', 4).matches.includes('keepMe'));
  assert.ok(ls.complete('hois', 4).matches.includes('hoisted'));
  const code = 'const s: Shape = { w: 1 }; s.';
  assert.deepEqual(ls.complete(code, code.length).matches, ['w']);
});

test('completion sees earlier cells, members and the standard library; inspection shows types and docs', async () => {
  const { k } = kernel();
  await k.execute('/** How many heads each layer has. */\nconst headCount = 8;\ninterface Cfg { layers: number; width: number }\nconst cfg: Cfg = { layers: 2, width: 64 };');
  const c1 = k.complete('head', 4);
  assert.ok(c1.matches.includes('headCount'), JSON.stringify(c1.matches.slice(0, 10)));
  assert.equal(c1.cursor_start, 0);
  assert.equal(c1.cursor_end, 4);
  const c2 = k.complete('cfg.wi', 6);
  assert.deepEqual(c2.matches, ['width']);
  assert.equal(c2.cursor_start, 4);
  const c3 = k.complete('Math.ma', 7);
  assert.ok(c3.matches.includes('max'));
  // Cursor positions count code points: an emoji before the cursor is one position.
  const c4 = k.complete("'🙂'; cfg.la", 11);
  assert.deepEqual(c4.matches, ['layers']);
  assert.equal(c4.cursor_start, 9);
  const i1 = k.inspect('headCount', 9);
  assert.equal(i1.found, true);
  assert.match(i1.data['text/plain']!, /const headCount: 8/);
  assert.match(i1.data['text/plain']!, /How many heads each layer has/);
  assert.equal(k.inspect('   ', 1).found, false);
});

test('completion sees the types of @attnlab packages a cell imported', async () => {
  const { k } = kernel();
  await k.execute("import { randn } from '@attnlab/tensor';\nconst t = randn([2, 3], { seed: 1 });");
  const c = k.complete('t.requ', 6);
  assert.ok(c.matches.includes('requireGrad'), JSON.stringify(c.matches));
  const i = k.inspect('randn', 5);
  assert.match(i.data['text/plain']!, /function randn\(shape/);
});

test('prompt() in a kernel service worker blocks until the I/O side answers; refused when allow_stdin is false', async () => {
  const input = createInputBuffer();
  const asked: string[] = [];
  const { request, outputs, close } = serviceWorker((prompt) => {
    asked.push(prompt);
    writeInput(input, 'Ada 🙂');
  });
  try {
    await request({ type: 'init', inputBuffer: input });
    const r = await request({ type: 'execute', code: "const who = prompt('your name?');\n`hello ${who}`", silent: false, allowStdin: true });
    assert.deepEqual(r, { status: 'ok', executionCount: 1 });
    assert.deepEqual(asked, ['your name?']);
    assert.ok(outputs.some((o) => o.type === 'execute_result' && o.data['text/plain'] === '"hello Ada 🙂"'));
    const refused = await request({ type: 'execute', code: "prompt('again?')", silent: false, allowStdin: false });
    assert.match(JSON.stringify(refused), /allow_stdin is false/);
    const missing = await request({ type: 'nonsense' });
    assert.equal(missing, "kernel service: unknown request type 'nonsense'");
  } finally {
    await close();
  }
});

test('runtime errors point at the cell\'s own TypeScript line and column, kernel frames dropped', async () => {
  const { k, out } = kernel();
  await k.execute('interface Cfg {\n  a: number;\n}\nfunction boom(x: number): number {\n  return (null as unknown as Cfg).a + x;\n}');
  const r = await k.execute('const z: number = 5;\n\nboom(z)');
  assert.equal(r.status, 'error');
  const tb = r.status === 'error' ? r.traceback : [];
  assert.deepEqual(tb.slice(0, 3), ['Cell [1], line 5:', '      return (null as unknown as Cfg).a + x;', '                                      ^'], 'the caret under the .a that failed');
  assert.equal(tb[3], "TypeError: Cannot read properties of null (reading 'a')");
  assert.deepEqual(tb.slice(4), ['    at boom (cell [1], line 5, column 35)', '    at (cell [2], line 3, column 1)']);
  assert.ok(!tb.join('\n').includes('run.js'), 'no kernel frames');
  assert.ok(out.some((o) => o.type === 'error'));
});

test('an unhandled rejection is reported on the cell that caused it; the kernel keeps running', async () => {
  // In a worker thread, as the hosts run it (node:test treats a rejection in its own thread as a failure).
  const { request, outputs, close } = serviceWorker();
  try {
    await request({ type: 'init' });
    const r = await request({ type: 'execute', code: "const stray = Promise.reject(new Error('nobody caught me'));\n'done'", silent: false, allowStdin: false });
    assert.deepEqual(r, { status: 'ok', executionCount: 1 });
    const report = outputs.find((o) => o.type === 'stream' && o.name === 'stderr' && o.text.startsWith('Unhandled promise rejection'));
    assert.ok(report && report.type === 'stream', JSON.stringify(outputs));
    assert.match(report.text, /Cell \[1\], line 1:/);
    assert.match(report.text, /Error: nobody caught me/);
    assert.deepEqual(await request({ type: 'execute', code: '1 + 1', silent: false, allowStdin: false }), { status: 'ok', executionCount: 2 });
  } finally {
    await close();
  }
});

function serviceWorker(onInput?: (prompt: string) => void) {
  const url = new URL('../src/service.js', import.meta.url).href;
  const w = new Worker(`
    import { parentPort } from 'node:worker_threads';
    const { createKernelService } = await import(${JSON.stringify(url)});
    const handle = createKernelService({ post: (m) => parentPort.postMessage(m) });
    parentPort.on('message', handle);
  `, { eval: true, type: 'module' } as ConstructorParameters<typeof Worker>[1]);
  const replies = new Map<number, (v: unknown) => void>();
  const outputs: KernelOutput[] = [];
  w.on('message', (m: FromService) => {
    if (m.type === 'reply') replies.get(m.id)?.(m.ok ? m.result : m.error);
    else if (m.type === 'output') outputs.push(m.out);
    else if (m.type === 'inputRequest') onInput?.(m.prompt);
  });
  let id = 0;
  const request = (req: object) => new Promise((resolve) => { const n = ++id; replies.set(n, resolve); w.postMessage({ ...req, id: n }); });
  return { request, outputs, close: () => w.terminate() };
}

test('%typecheck on: a cell with a type error is reported with its line and does not run; off by default', async () => {
  const { k, out } = kernel();
  const loose = await k.execute('let counter: number = 0;\ncounter = counter + 1;');
  assert.equal(loose.status, 'ok');
  assert.equal((await k.execute("const s: string = 5 as unknown as string;\ns")).status, 'ok', 'off by default');
  await k.execute('%typecheck on');
  const bad = await k.execute("counter = 1;\nconst wrong: number = 'text';\ncounter = 99;");
  assert.equal(bad.status === 'error' && bad.ename, 'TypeCheckError');
  assert.match(bad.status === 'error' ? bad.traceback.join('\n') : '', /line 2, column 7: Type 'string' is not assignable to type 'number'/);
  out.length = 0;
  await k.execute('counter');
  assert.ok(out.some((o) => o.type === 'execute_result' && o.data['text/plain'] === '1'), 'the bad cell did not run');
  assert.equal((await k.execute('counter + 1')).status, 'ok');
  await k.execute('%typecheck off');
  assert.equal((await k.execute("const w2: number = 'text' as any;")).status, 'ok');
});
