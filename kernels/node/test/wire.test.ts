import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as zmq from 'zeromq';
import { Signer, type Message } from '../src/index.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const key = 'test-key-' + Math.random().toString(36).slice(2);
const signer = new Signer(key);
let proc: ChildProcess;
let shell: zmq.Dealer;
let control: zmq.Dealer;
let stdin: zmq.Dealer;
let iopub: zmq.Subscriber;
let stderr = '';
const iopubMsgs: Message[] = [];

before(async () => {
  const ports = await Promise.all([1, 2, 3, 4, 5].map(freePort));
  const info = { ip: '127.0.0.1', transport: 'tcp', shell_port: ports[0], iopub_port: ports[1], stdin_port: ports[2], control_port: ports[3], hb_port: ports[4], key, signature_scheme: 'hmac-sha256' };
  const file = join(mkdtempSync(join(tmpdir(), 'attnlab-wire-')), 'conn.json');
  writeFileSync(file, JSON.stringify(info));
  const bin = fileURLToPath(new URL('../../bin/attnlab-kernel.mjs', import.meta.url));
  proc = spawn(process.execPath, [bin, 'run', file], { stdio: ['ignore', 'inherit', 'pipe'] });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // stdin requests are routed to the shell socket's identity, as Jupyter clients arrange it.
  shell = new zmq.Dealer({ routingId: 'wire-client' });
  shell.connect(`tcp://127.0.0.1:${ports[0]}`);
  stdin = new zmq.Dealer({ routingId: 'wire-client' });
  stdin.connect(`tcp://127.0.0.1:${ports[2]}`);
  control = new zmq.Dealer();
  control.connect(`tcp://127.0.0.1:${ports[3]}`);
  iopub = new zmq.Subscriber();
  iopub.connect(`tcp://127.0.0.1:${ports[1]}`);
  iopub.subscribe();
  void (async () => {
    for await (const frames of iopub) iopubMsgs.push(signer.parse(frames));
  })();
  await new Promise((r) => setTimeout(r, 500));
});

after(() => {
  proc.kill();
  shell.close();
  stdin.close();
  control.close();
  iopub.close();
});

async function request(type: string, content: Record<string, unknown>): Promise<Message> {
  await shell.send(signer.serialize(type, content, null, 'test'));
  const [frames] = await Promise.race([
    shell.receive().then((f) => [f] as const),
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no reply to ${type}`)), 10_000)),
  ]);
  return signer.parse(frames as Buffer[]);
}

const streams = (): string => iopubMsgs.filter((m) => m.header.msg_type === 'stream').map((m) => String(m.content['text'])).join('');

test('a message with a bad signature is dropped, logged and not executed', async () => {
  const frames = signer.serialize('execute_request', { code: 'console.log("SHOULD-NOT-RUN")', silent: false }, null, 'test');
  frames[frames.length - 5] = Buffer.from('0'.repeat(64));
  await shell.send(frames);
  const r = await request('execute_request', { code: 'console.log("after")', silent: false });
  assert.equal(r.content['status'], 'ok');
  await new Promise((res) => setTimeout(res, 200));
  assert.ok(!streams().includes('SHOULD-NOT-RUN'));
  assert.match(stderr, /bad or missing signature/);
});

test('malformed JSON and unknown message types are logged; the kernel keeps answering', async () => {
  const frames = signer.serialize('execute_request', {}, null, 'test');
  const bad = Buffer.from('{not json');
  frames[frames.length - 1] = bad;
  frames[frames.length - 5] = Buffer.from(signer.sign(frames.slice(-4)));
  await shell.send(frames);
  await shell.send(signer.serialize('no_such_request', {}, null, 'test'));
  const r = await request('kernel_info_request', {});
  assert.equal((r.content['language_info'] as { name: string }).name, 'typescript');
  await new Promise((res) => setTimeout(res, 100));
  assert.match(stderr, /malformed JSON/);
  assert.match(stderr, /unknown msg_type 'no_such_request'/);
});

test('a syntax error and a comm_msg for an unknown comm leave state intact', async () => {
  await request('execute_request', { code: 'const kept: number = 41;', silent: false });
  const bad = await request('execute_request', { code: 'const = ;', silent: false });
  assert.equal(bad.content['status'], 'error');
  assert.equal(bad.content['ename'], 'SyntaxError');
  await shell.send(signer.serialize('comm_msg', { comm_id: 'nope', data: {} }, null, 'test'));
  const ok = await request('execute_request', { code: 'kept + 1', silent: false });
  assert.equal(ok.content['status'], 'ok');
  await new Promise((res) => setTimeout(res, 200));
  const result = iopubMsgs.find((m) => m.header.msg_type === 'execute_result' && (m.content['data'] as Record<string, string>)['text/plain'] === '42');
  assert.ok(result, 'execute_result 42 published');
});

async function waitIopub(pred: (m: Message) => boolean, what: string): Promise<Message> {
  for (let i = 0; i < 100; i++) {
    const m = iopubMsgs.find(pred);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no iopub message: ${what}`);
}

test('comms: a target registered by a cell answers a front-end comm with binary buffers both ways', async () => {
  const setup = await request('execute_request', {
    code: `const ctx = (globalThis as any)[Symbol.for('attnlab.kernel')];
ctx.comms.registerTarget('echo', (comm: any, open: any) => {
  comm.send({ opened: open.data.hello });
  comm.onMsg = (m: any) => comm.send({ n: m.buffers[0].byteLength }, { buffers: [new Uint8Array(new Uint8Array(m.buffers[0].buffer, m.buffers[0].byteOffset, m.buffers[0].byteLength)).reverse()] });
});`,
    silent: false,
  });
  assert.equal(setup.content['status'], 'ok');
  await shell.send(signer.serialize('comm_open', { comm_id: 'c1', target_name: 'echo', data: { hello: 'world' } }, null, 'test'));
  const opened = await waitIopub((m) => m.header.msg_type === 'comm_msg' && (m.content['data'] as { opened?: string }).opened === 'world', 'reply to comm_open');
  assert.equal(opened.content['comm_id'], 'c1');
  const frames = signer.serialize('comm_msg', { comm_id: 'c1', data: {} }, null, 'test');
  await shell.send([...frames, Buffer.from([1, 2, 3, 250])]);
  const echoed = await waitIopub((m) => m.header.msg_type === 'comm_msg' && (m.content['data'] as { n?: number }).n === 4, 'echo with a buffer');
  assert.deepEqual([...echoed.buffers[0]!], [250, 3, 2, 1]);
  const info = await request('comm_info_request', { target_name: 'echo' });
  assert.deepEqual(info.content['comms'], { c1: { target_name: 'echo' } });
  await shell.send(signer.serialize('comm_open', { comm_id: 'c2', target_name: 'nobody', data: {} }, null, 'test'));
  const closed = await waitIopub((m) => m.header.msg_type === 'comm_close' && m.content['comm_id'] === 'c2', 'comm_close for an unknown target');
  assert.ok(closed);
  const alive = await request('execute_request', { code: 'ctx.comms.get("c1").targetName', silent: false });
  assert.equal(alive.content['status'], 'ok');
});

async function receiveWithin(sock: zmq.Dealer, ms: number, what: string): Promise<Message> {
  const [frames] = await Promise.race([
    sock.receive().then((f) => [f] as const),
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`nothing within ${ms} ms: ${what}`)), ms)),
  ]);
  return signer.parse(frames as Buffer[]);
}

test('an infinite loop is stopped by interrupt_request on control; earlier state survives', async () => {
  await request('execute_request', { code: 'const survivor = 6;', silent: false });
  const running = request('execute_request', { code: 'let spins = 0;\nwhile (true) { spins++; }', silent: false });
  await new Promise((r) => setTimeout(r, 700));
  // The main thread still answers while the cell spins on the worker thread.
  await control.send(signer.serialize('interrupt_request', {}, null, 'test'));
  const ack = await receiveWithin(control, 5000, 'interrupt_reply');
  assert.equal(ack.header.msg_type, 'interrupt_reply');
  const r = await running;
  assert.equal(r.content['status'], 'error');
  assert.equal(r.content['ename'], 'Interrupted');
  // The error output belongs to the cell (its execute_request), not to the interrupt_request.
  const shown = await waitIopub((m) => m.header.msg_type === 'error' && m.content['ename'] === 'Interrupted', 'the Interrupted error output');
  assert.equal(shown.parent_header.msg_id, r.parent_header.msg_id);
  const after = await request('execute_request', { code: 'survivor * 7', silent: false });
  assert.equal(after.content['status'], 'ok');
  await waitIopub((m) => m.header.msg_type === 'execute_result' && (m.content['data'] as Record<string, string>)['text/plain'] === '42', 'survivor * 7');
});

test('SIGINT interrupts a cell waiting on a promise that never settles', async () => {
  const running = request('execute_request', { code: 'await new Promise(() => {});', silent: false });
  await new Promise((r) => setTimeout(r, 300));
  proc.kill('SIGINT');
  const r = await running;
  assert.equal(r.content['ename'], 'Interrupted');
  assert.equal((await request('execute_request', { code: 'survivor', silent: false })).content['status'], 'ok');
});

test('prompt() sends input_request on stdin and returns the input_reply', async () => {
  const running = request('execute_request', { code: "const answer = prompt('your name?');\n`hi ${answer}`", silent: false, allow_stdin: true });
  const ask = await receiveWithin(stdin, 10_000, 'input_request');
  assert.equal(ask.header.msg_type, 'input_request');
  assert.equal(ask.content['prompt'], 'your name?');
  await stdin.send(signer.serialize('input_reply', { value: 'Ada' }, ask, 'test'));
  const r = await running;
  assert.equal(r.content['status'], 'ok');
  await waitIopub((m) => m.header.msg_type === 'execute_result' && (m.content['data'] as Record<string, string>)['text/plain'] === '"hi Ada"', 'prompt result');
  const refused = await request('execute_request', { code: "prompt('again?')", silent: false, allow_stdin: false });
  assert.match(String(refused.content['evalue']), /allow_stdin is false/);
});

test('completion and inspection come from the TypeScript language service', async () => {
  await request('execute_request', { code: 'const attnWidth = 64;', silent: false });
  const c = await request('complete_request', { code: 'attnW', cursor_pos: 5 });
  assert.deepEqual(c.content['matches'], ['attnWidth']);
  const i = await request('inspect_request', { code: 'attnWidth', cursor_pos: 3, detail_level: 0 });
  assert.equal(i.content['found'], true);
  assert.match((i.content['data'] as Record<string, string>)['text/plain']!, /const attnWidth: 64/);
});

test('restart over control gives a fresh kernel: state gone, execution count reset', async () => {
  await control.send(signer.serialize('shutdown_request', { restart: true }, null, 'test'));
  const ack = await receiveWithin(control, 20_000, 'shutdown_reply');
  assert.equal(ack.content['restart'], true);
  const r = await request('execute_request', { code: 'typeof survivor', silent: false });
  assert.equal(r.content['execution_count'], 1);
  await waitIopub((m) => m.header.msg_type === 'execute_result' && (m.content['data'] as Record<string, string>)['text/plain'] === '"undefined"', 'fresh scope');
});

test('%device on the kernel thread finds the WebGPU adapter (Dawn; SwiftShader without a GPU)', async () => {
  const r = await request('execute_request', { code: '%device', silent: false });
  assert.equal(r.content['status'], 'ok');
  const text = await waitIopub((m) => m.header.msg_type === 'stream' && /^webgpu: /m.test(String(m.content['text'])), '%device output');
  assert.match(String(text.content['text']), /webgpu: .+/);
});
