/**
 * Issue 19, item 5: output floods. Every line arrives, in order, and the control channel is
 * answered while a cell prints as fast as it can. (Correctness only: speed is the benchmarks'.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Message } from '../src/index.js';
import { startKernel, type TestKernel } from './harness.js';

let k: TestKernel;
before(async () => {
  k = await startKernel();
});
after(() => k.close());

/** Checks stream text of one request as it arrives: lines must be 0, 1, 2, ... with none missing. */
function lineCounter(parentOf: () => string | null) {
  const state = { lines: 0, partial: '', bad: null as string | null, messages: 0, idle: false };
  k.keepIopub = false;
  k.onIopub = (m: Message) => {
    if (m.parent_header.msg_id !== parentOf()) return;
    if (m.header.msg_type === 'status' && m.content['execution_state'] === 'idle') state.idle = true;
    if (m.header.msg_type !== 'stream' || m.content['name'] !== 'stdout') return;
    state.messages++;
    const parts = (state.partial + String(m.content['text'])).split('\n');
    state.partial = parts.pop()!;
    for (const line of parts) {
      if (state.bad === null && line !== String(state.lines)) state.bad = `line ${state.lines} arrived as ${JSON.stringify(line.slice(0, 40))}`;
      state.lines++;
    }
  };
  return state;
}

async function until(cond: () => boolean, what: string, ms = 120_000): Promise<void> {
  for (let t = 0; !cond(); t += 20) {
    if (t > ms) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a cell printing 10^6 lines: every line arrives, in order, coalesced into few messages', async () => {
  const frames = k.signer.serialize('execute_request', { code: 'for (let i = 0; i < 1e6; i++) console.log(i);', silent: false }, null, 'test');
  const id = (JSON.parse(frames[2]!.toString()) as { msg_id: string }).msg_id;
  const seen = lineCounter(() => id);
  await k.shell.send(frames);
  const reply = await k.receive(k.shell, 300_000, 'execute_reply of the flood');
  assert.equal(reply.content['status'], 'ok');
  // idle follows every output of the request on iopub.
  await until(() => seen.idle, 'idle after the flood');
  assert.equal(seen.bad, null);
  assert.equal(seen.lines, 1_000_000);
  assert.ok(seen.messages < 10_000, `${seen.messages} stream messages for 10^6 lines`);
  k.onIopub = null;
  k.keepIopub = true;
});

test('during an endless flood, kernel_info and interrupt on control are answered; nothing printed is lost', async () => {
  const frames = k.signer.serialize('execute_request', { code: 'let n = 0;\nwhile (true) console.log(n++);', silent: false }, null, 'test');
  const id = (JSON.parse(frames[2]!.toString()) as { msg_id: string }).msg_id;
  const seen = lineCounter(() => id);
  await k.shell.send(frames);
  await until(() => seen.lines > 10_000, 'the flood to start');
  // The flood never ends by itself, so an answer here is an answer during the flood.
  await k.control.send(k.signer.serialize('kernel_info_request', {}, null, 'test'));
  const info = await k.receive(k.control, 20_000, 'kernel_info_reply during the flood');
  assert.equal(info.header.msg_type, 'kernel_info_reply');
  await k.control.send(k.signer.serialize('interrupt_request', {}, null, 'test'));
  assert.equal((await k.receive(k.control, 20_000, 'interrupt_reply during the flood')).header.msg_type, 'interrupt_reply');
  const reply = await k.receive(k.shell, 60_000, 'execute_reply of the interrupted flood');
  assert.equal(reply.content['ename'], 'Interrupted');
  await until(() => seen.idle, 'idle after the interrupted flood');
  assert.equal(seen.bad, null);
  assert.ok(seen.lines > 10_000);
  k.onIopub = null;
  k.keepIopub = true;
  // The kernel is usable right after.
  const next = await k.request('execute_request', { code: '1 + 1', silent: false });
  assert.equal(next.content['status'], 'ok');
});
