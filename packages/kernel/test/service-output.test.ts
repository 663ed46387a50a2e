/**
 * The kernel service's outputs, as both hosts run it (in a worker thread here): stream text is
 * coalesced in order, outputs wait for credits when the host passes them, and an exception in a
 * callback a cell scheduled is reported instead of ending the worker (issue 19 items 3 and 5).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { FromService, KernelOutput } from '../src/index.js';
import { OUTPUTS_IN_FLIGHT } from '../src/service.js';

function serviceWorker() {
  const url = new URL('../src/service.js', import.meta.url).href;
  const w = new Worker(`
    import { parentPort } from 'node:worker_threads';
    const { createKernelService } = await import(${JSON.stringify(url)});
    parentPort.on('message', createKernelService({ post: (m) => parentPort.postMessage(m) }));
  `, { eval: true, type: 'module' } as ConstructorParameters<typeof Worker>[1]);
  const replies = new Map<number, (v: unknown) => void>();
  const outputs: KernelOutput[] = [];
  w.on('message', (m: FromService) => {
    if (m.type === 'reply') replies.get(m.id)?.(m.ok ? m.result : m.error);
    else if (m.type === 'output') outputs.push(m.out);
  });
  let id = 0;
  const request = (req: object) => new Promise((resolve) => { const n = ++id; replies.set(n, resolve); w.postMessage({ ...req, id: n }); });
  return { request, outputs, close: () => w.terminate() };
}

const execute = (code: string) => ({ type: 'execute', code, silent: false, allowStdin: false });
const streams = (outputs: KernelOutput[]) => outputs.filter((o): o is Extract<KernelOutput, { type: 'stream' }> => o.type === 'stream');

test('stream text is joined into few messages, keeps its order across stdout and stderr, and loses nothing', async () => {
  const { request, outputs, close } = serviceWorker();
  try {
    await request({ type: 'init' });
    assert.deepEqual(await request(execute('for (let i = 0; i < 20000; i++) console.log(i);')), { status: 'ok', executionCount: 1 });
    const text = streams(outputs).map((o) => o.text).join('');
    assert.equal(text, Array.from({ length: 20000 }, (_, i) => `${i}\n`).join(''));
    assert.ok(streams(outputs).length <= 3, `${streams(outputs).length} messages`);
    outputs.length = 0;
    await request(execute("console.log('a'); console.log('b'); console.error('c'); display.html('<i>d</i>'); console.log('e');"));
    assert.deepEqual(outputs.map((o) => (o.type === 'stream' ? `${o.name}:${o.text}` : o.type)), ['stdout:a\nb\n', 'stderr:c\n', 'display_data', 'stdout:e\n']);
    outputs.length = 0;
    // Printed by a cell that then waits: sent while it waits, not held until it ends.
    await request(execute("console.log('early');\nawait new Promise((r) => setTimeout(r, 300));"));
    assert.equal(streams(outputs)[0]?.text, 'early\n');
  } finally {
    await close();
  }
});

test('with output credits the service waits for the host instead of piling outputs up', async () => {
  const { request, outputs, close } = serviceWorker();
  const credits = new Int32Array(new SharedArrayBuffer(4));
  try {
    await request({ type: 'init', outputCredits: credits.buffer });
    const done = request(execute("for (let i = 0; i < 200; i++) display.html(String(i));\n'done'"));
    await new Promise((r) => setTimeout(r, 500));
    // The host has sent nothing on: the cell is held at the limit.
    assert.equal(outputs.length, OUTPUTS_IN_FLIGHT);
    assert.equal(Atomics.load(credits, 0), OUTPUTS_IN_FLIGHT);
    // The host catches up: everything arrives, in order.
    const release = setInterval(() => {
      Atomics.store(credits, 0, 0);
      Atomics.notify(credits, 0);
    }, 5);
    assert.deepEqual(await done, { status: 'ok', executionCount: 1 });
    clearInterval(release);
    const shown = outputs.filter((o) => o.type === 'display_data').map((o) => (o.type === 'display_data' ? o.data['text/html'] : ''));
    assert.deepEqual(shown, Array.from({ length: 200 }, (_, i) => String(i)));
  } finally {
    await close();
  }
});

test('an exception thrown in a timer or microtask is reported on stderr naming the cell; the worker lives', async () => {
  const { request, outputs, close } = serviceWorker();
  try {
    await request({ type: 'init' });
    await request(execute("const kept = 3;\nsetTimeout(() => { throw new Error('timer boom'); }, 1);\nqueueMicrotask(() => { throw new TypeError('micro boom'); });\nawait new Promise((r) => setTimeout(r, 50));"));
    const text = streams(outputs).filter((o) => o.name === 'stderr').map((o) => o.text).join('');
    assert.match(text, /Uncaught exception in a callback \(the kernel keeps running\):\nCell \[1\], line 2:[\s\S]*Error: timer boom/);
    assert.match(text, /Cell \[1\], line 3:[\s\S]*TypeError: micro boom/);
    assert.deepEqual(await request(execute('kept')), { status: 'ok', executionCount: 2 });
  } finally {
    await close();
  }
});
