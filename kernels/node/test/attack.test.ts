/**
 * Issue 19, items 1-4: the Node kernel survives every message and every cell fault. Messages are
 * forged by hand over raw ZeroMQ (signed correctly, so only their content is wrong).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Message } from '../src/index.js';
import { startKernel, type TestKernel } from './harness.js';

let k: TestKernel;
before(async () => {
  k = await startKernel();
});
after(() => k.close());

const header = (type: string) => ({ msg_id: randomUUID(), session: 'forger', username: 'x', date: new Date().toISOString(), msg_type: type, version: '5.3' });

/** Frames signed with the session key whose header and content are whatever is given. */
function forge(h: unknown, content: unknown): Buffer[] {
  const parts = [h, {}, {}, content].map((x) => Buffer.from(JSON.stringify(x)));
  return [Buffer.from('<IDS|MSG>'), Buffer.from(k.signer.sign(parts)), ...parts];
}

const result = (m: Message) => (m.content['data'] as Record<string, string> | undefined)?.['text/plain'];

async function evaluate(code: string): Promise<string | undefined> {
  const r = await k.request('execute_request', { code, silent: false });
  assert.equal(r.content['status'], 'ok', JSON.stringify(r.content));
  const shown = await k.waitIopub((m) => m.header.msg_type === 'execute_result' && m.parent_header.msg_id === r.parent_header.msg_id, `result of ${code}`);
  return result(shown);
}

test('signed but ill-typed messages are dropped or answered with an error, and every loop keeps serving', async () => {
  await k.shell.send(forge(null, {}));
  await k.shell.send(forge(header('execute_request'), null));
  await k.shell.send(forge(header('kernel_info_request'), null));
  await k.control.send(forge(header('interrupt_request'), null));
  await k.control.send(forge(null, null));
  await k.stdin.send(forge(header('input_reply'), null));
  // An object where a string belongs: an error reply naming the field, the cell never runs.
  const bad = await k.request('execute_request', { code: { toString: 'x' }, silent: false });
  assert.equal(bad.content['status'], 'error');
  assert.equal(bad.content['ename'], 'BadRequest');
  assert.match(String(bad.content['evalue']), /content\.code must be a string, got object/);
  const badComplete = await k.request('complete_request', { code: 'x', cursor_pos: { valueOf: 1 } });
  assert.equal(badComplete.content['status'], 'error');
  // shell, control and stdin all still answer; the process is alive.
  assert.equal((await k.request('kernel_info_request', {})).header.msg_type, 'kernel_info_reply');
  await k.control.send(k.signer.serialize('kernel_info_request', {}, null, 'test'));
  assert.equal((await k.receive(k.control, 10_000, 'kernel_info_reply on control')).header.msg_type, 'kernel_info_reply');
  const asking = k.request('execute_request', { code: "prompt('name?')", silent: false, allow_stdin: true });
  const ask = await k.receive(k.stdin, 10_000, 'input_request');
  await k.stdin.send(k.signer.serialize('input_reply', { value: { not: 'a string' } }, ask, 'test'));
  await k.stdin.send(k.signer.serialize('input_reply', { value: 'Ada' }, ask, 'test'));
  const answered = await asking;
  assert.equal(answered.content['status'], 'ok');
  await k.waitIopub((m) => m.header.msg_type === 'execute_result' && result(m) === '"Ada"', 'the prompt answer');
  assert.equal(k.exited(), false);
  const log = k.stderr();
  assert.match(log, /the header must be an object with a string msg_type/);
  assert.match(log, /malformed execute_request: content must be an object, got null/);
  assert.match(log, /malformed interrupt_request: content must be an object, got null/);
  assert.match(log, /malformed input_reply: content must be an object, got null/);
  assert.match(log, /content\.value must be a string/);
});

test('a replayed execute_request (same frames, same signature) is dropped, not run again', async () => {
  const frames = k.signer.serialize('execute_request', { code: 'globalThis.replayRuns = ((globalThis as any).replayRuns ?? 0) + 1;', silent: false }, null, 'test');
  await k.shell.send(frames);
  const first = await k.receive(k.shell, 10_000, 'reply to the original');
  assert.equal(first.content['status'], 'ok');
  for (let i = 0; i < 4; i++) await k.shell.send(frames);
  assert.equal(await evaluate('(globalThis as any).replayRuns'), '1');
  assert.equal((k.stderr().match(/replayed execute_request/g) ?? []).length, 4);
});

test('an exception thrown in a timer or microtask is reported on the cell that scheduled it; the kernel keeps its state', async () => {
  await evaluate('const keptAcrossCallbacks = 5;\n1');
  const timer = await k.request('execute_request', { code: "setTimeout(() => { throw new Error('late boom'); }, 5);\nawait new Promise((r) => setTimeout(r, 100));", silent: false });
  assert.equal(timer.content['status'], 'ok');
  const micro = await k.request('execute_request', { code: "queueMicrotask(() => { throw new Error('micro boom'); });\nawait new Promise((r) => setTimeout(r, 100));", silent: false });
  assert.equal(micro.content['status'], 'ok');
  for (const [what, parent] of [['late boom', timer], ['micro boom', micro]] as const) {
    const report = await k.waitIopub((m) => m.header.msg_type === 'stream' && String(m.content['text']).includes(what), what);
    assert.match(String(report.content['text']), /^Uncaught exception in a callback \(the kernel keeps running\)/);
    assert.match(String(report.content['text']), /Cell \[\d+\], line 1:/);
    assert.equal(report.parent_header.msg_id, parent.parent_header.msg_id);
  }
  assert.equal(await evaluate('keptAcrossCallbacks'), '5');
});

for (const [name, code, cause] of [
  ['process.exit(1)', 'process.exit(1)', /process\.exit\(1\)/],
  ['parentPort.close()', "const { parentPort } = await import('node:worker_threads');\nparentPort!.close();\nawait new Promise(() => {});", /parentPort\.close\(\)/],
  ['process.exit() with exitCode 3', 'process.exitCode = 3;\nprocess.exit();', /process\.exit\(3\)/],
] as const) {
  test(`a cell that ends its kernel thread (${name}) gets the death as its error; a fresh kernel answers next`, async () => {
    await evaluate('const lostOnDeath = 1;\n1');
    const r = await k.request('execute_request', { code, silent: false }, 30_000);
    const next = await k.request('execute_request', { code: 'typeof lostOnDeath', silent: false }, 30_000);
    // The kernel came back by itself: the next cell runs, in a fresh scope.
    assert.equal(next.content['status'], 'ok', JSON.stringify(next.content));
    assert.equal(r.content['status'], 'error');
    assert.equal(r.content['ename'], 'KernelDied');
    assert.match(String(r.content['evalue']), cause);
    assert.match(String(r.content['evalue']), /a fresh kernel was started: every variable, import and plugin of the old one is lost/);
    await k.waitIopub((m) => m.header.msg_type === 'error' && m.parent_header.msg_id === r.parent_header.msg_id, 'the error on the cell');
    assert.equal(next.content['execution_count'], 1);
    assert.equal(result(await k.waitIopub((m) => m.header.msg_type === 'execute_result' && m.parent_header.msg_id === next.parent_header.msg_id, 'fresh scope')), '"undefined"');
  });
}

test('a death between cells (a timer calling process.exit) is said on the cell that scheduled it', async () => {
  const r = await k.request('execute_request', { code: 'setTimeout(() => process.exit(7), 50);\n1', silent: false });
  assert.equal(r.content['status'], 'ok');
  const notice = await k.waitIopub((m) => m.header.msg_type === 'stream' && /KernelDied: .*process\.exit\(7\)/.test(String(m.content['text'])), 'the death notice');
  assert.equal(notice.parent_header.msg_id, r.parent_header.msg_id);
  assert.equal(await evaluate('40 + 2'), '42');
});

test('whatever a cell posts to the host (null, junk, an output that cannot be serialized) is dropped; the host lives', async () => {
  const r = await k.request('execute_request', {
    code: "const { parentPort } = await import('node:worker_threads');\nparentPort!.postMessage(null);\nparentPort!.postMessage(42);\nparentPort!.postMessage({ type: 'output', out: { type: 'stream', name: 'stdout', text: 7 } });\nparentPort!.postMessage({ type: 'output', out: { type: 'display_data', data: { 'text/plain': 1n } } });\nparentPort!.postMessage({ type: 'reply', id: 'x' });\n'posted'",
    silent: false,
  });
  assert.equal(r.content['status'], 'ok');
  assert.equal(await evaluate('6 * 7'), '42');
  assert.equal(k.exited(), false);
  assert.match(k.stderr(), /dropped a message from the kernel thread: expected an object, got null/);
  assert.match(k.stderr(), /could not send on a message from the kernel thread \(output\)/);
});

test('a cell that exhausts the heap ends only the kernel process: reported on the cell, a fresh kernel comes up', async () => {
  // A small heap so the test is quick; the default is what the host process itself may use.
  const small = await startKernel({ ATTNLAB_KERNEL_HEAP_MB: '160' });
  try {
    for (const [code, cause] of [
      // Grows in JavaScript: the worker's resource limit ends the thread.
      ['const hog: number[][] = [];\nwhile (true) hog.push(new Array(1e5).fill(1.5));', /ran out of memory \(the kernel's JavaScript heap limit is 160 MB/],
      // Grows inside a builtin that never returns to JavaScript: V8 aborts the kernel process.
      ['new Array(1e9).fill(0)', /ran out of memory/],
    ] as const) {
      const r = await small.request('execute_request', { code, silent: false }, 120_000);
      const next = await small.request('execute_request', { code: '1 + 1', silent: false }, 60_000);
      assert.equal(next.content['status'], 'ok', JSON.stringify(next.content));
      assert.equal(r.content['ename'], 'KernelDied', JSON.stringify(r.content));
      assert.match(String(r.content['evalue']), cause);
    }
    assert.equal(small.exited(), false);
  } finally {
    await small.close();
  }
});
