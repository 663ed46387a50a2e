/**
 * A Node kernel process driven over raw ZeroMQ, for tests that forge messages a Jupyter client
 * never sends (ill-typed, replayed) or need every iopub message (floods).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

export interface TestKernel {
  signer: Signer;
  proc: ChildProcess;
  shell: zmq.Dealer;
  control: zmq.Dealer;
  stdin: zmq.Dealer;
  iopub: Message[];
  /** Called with each iopub message as it arrives (besides being kept in `iopub` unless `keep` says no). */
  onIopub: ((m: Message) => void) | null;
  keepIopub: boolean;
  stderr(): string;
  /** Sends on shell and waits for the reply (10 s, else throws). */
  request(type: string, content: Record<string, unknown>, ms?: number): Promise<Message>;
  receive(sock: zmq.Dealer, ms: number, what: string): Promise<Message>;
  waitIopub(pred: (m: Message) => boolean, what: string, ms?: number): Promise<Message>;
  exited(): boolean;
  close(): Promise<void>;
}

export async function startKernel(env: Record<string, string> = {}): Promise<TestKernel> {
  const key = 'test-key-' + Math.random().toString(36).slice(2);
  const signer = new Signer(key);
  const ports = await Promise.all([1, 2, 3, 4, 5].map(freePort));
  const info = { ip: '127.0.0.1', transport: 'tcp', shell_port: ports[0], iopub_port: ports[1], stdin_port: ports[2], control_port: ports[3], hb_port: ports[4], key, signature_scheme: 'hmac-sha256' };
  const file = join(mkdtempSync(join(tmpdir(), 'attnlab-test-kernel-')), 'conn.json');
  writeFileSync(file, JSON.stringify(info));
  const bin = fileURLToPath(new URL('../../bin/attnlab-kernel.mjs', import.meta.url));
  const proc = spawn(process.execPath, [bin, 'run', file], { stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  let exited = false;
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-200_000)));
  proc.on('exit', () => (exited = true));
  // stdin requests are routed to the shell socket's identity, as Jupyter clients arrange it.
  const shell = new zmq.Dealer({ routingId: 'test-client' });
  shell.connect(`tcp://127.0.0.1:${ports[0]}`);
  const stdin = new zmq.Dealer({ routingId: 'test-client' });
  stdin.connect(`tcp://127.0.0.1:${ports[2]}`);
  const control = new zmq.Dealer();
  control.connect(`tcp://127.0.0.1:${ports[3]}`);
  const sub = new zmq.Subscriber();
  sub.connect(`tcp://127.0.0.1:${ports[1]}`);
  sub.subscribe();
  const k: TestKernel = {
    signer, proc, shell, control, stdin, iopub: [], onIopub: null, keepIopub: true,
    stderr: () => stderr,
    exited: () => exited,
    async receive(sock, ms, what) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const frames = await Promise.race([
          sock.receive(),
          new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`nothing within ${ms} ms: ${what}`)), ms))),
        ]);
        return signer.parse(frames);
      } finally {
        clearTimeout(timer);
      }
    },
    async request(type, content, ms = 10_000) {
      const frames = signer.serialize(type, content, null, 'test');
      const id = (JSON.parse(frames[2]!.toString()) as { msg_id: string }).msg_id;
      await shell.send(frames);
      // Replies to other requests (a replay the kernel should not have run) are skipped.
      for (;;) {
        const r = await k.receive(shell, ms, `reply to ${type}`);
        if (r.parent_header.msg_id === id) return r;
      }
    },
    async waitIopub(pred, what, ms = 10_000) {
      for (let t = 0; t < ms; t += 25) {
        const m = k.iopub.find(pred);
        if (m) return m;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no iopub message: ${what}`);
    },
    async close() {
      proc.kill('SIGKILL');
      for (const s of [shell, stdin, control, sub]) s.close();
    },
  };
  void (async () => {
    for await (const frames of sub) {
      const m = signer.parse(frames);
      k.onIopub?.(m);
      if (k.keepIopub) k.iopub.push(m);
    }
  })().catch(() => undefined);
  // The Dealer queues the request until the kernel has bound its sockets.
  await k.request('kernel_info_request', {}, 30_000);
  await new Promise((r) => setTimeout(r, 200));
  return k;
}

/** Text of the stream outputs of one request. */
export function streamText(k: TestKernel, parent: Message, name = 'stdout'): string {
  return k.iopub.filter((m) => m.header.msg_type === 'stream' && m.parent_header.msg_id === parent.header.msg_id && m.content['name'] === name).map((m) => String(m.content['text'])).join('');
}
