import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ServiceClient, type ServiceHandlers } from '@attnlab/kernel/service-client';
import type { FromService, ServiceRequest } from '@attnlab/kernel';
import type { FromRelay, ToRelay } from './relay-protocol.js';

export interface CoreHandlers extends ServiceHandlers {
  /** The kernel process died on its own (not stopped by the host); `reason` says how. */
  died(reason: string): void;
  /** Resolves once everything handed to `output` so far has been sent on (iopub). */
  sent(): Promise<void>;
}

/**
 * The host's handle on the kernel process (core-relay.ts, which runs the core on a worker
 * thread): requests with one reply each, outputs in between, interrupts, stdin. Everything the
 * process sends is checked before use, since a cell can post anything; if the process dies on its
 * own, pending requests fail with the reason and `died` is called once.
 */
export class CoreProcess {
  readonly client: ServiceClient;
  readonly ready: Promise<unknown>;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private stopping = false;
  private reason: string | null = null;
  /** The end of the kernel process's stderr, to tell a fatal out-of-memory apart. */
  private stderrTail = '';

  constructor(private readonly handlers: CoreHandlers) {
    this.child = fork(fileURLToPath(new URL('./core-relay.js', import.meta.url)), [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      process.stderr.write(d);
      this.stderrTail = (this.stderrTail + d.toString()).slice(-4096);
    });
    this.client = new ServiceClient((msg) => this.toChild({ kind: 'service', msg }), handlers);
    this.child.on('message', (m: unknown) => this.fromChild(m));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      this.onExit(code, signal);
      resolve();
    }));
    this.child.on('error', (e) => console.error(`attnlab-kernel: kernel process: ${e.message}`));
    this.ready = this.client.request({ type: 'init' });
    // A process stopped while starting (restart right after launch) rejects this; that is expected.
    this.ready.catch(() => undefined);
  }

  request<T>(req: ServiceRequest): Promise<T> {
    return this.client.request<T>(req);
  }

  /** Loops see the flag at their next iteration; the message cancels pending awaits. */
  interrupt(): void {
    void this.client.request({ type: 'interrupt' }).catch(() => undefined);
  }

  /** The answer to a prompt() the cell is blocked in. */
  input(value: string): void {
    this.toChild({ kind: 'input', value });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.client.fail('kernel restarted');
    this.child.kill('SIGKILL');
    await this.exited;
  }

  private toChild(m: ToRelay): void {
    if (!this.child.connected) return;
    try {
      this.child.send(m);
    } catch (e) {
      console.error(`attnlab-kernel: cannot reach the kernel process: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private fromChild(m: unknown): void {
    const relay = m as FromRelay;
    if (typeof relay !== 'object' || relay === null) return;
    if (relay.kind === 'died' && typeof relay.reason === 'string') {
      this.reason = relay.reason;
      return;
    }
    if (relay.kind !== 'service') return;
    const msg = checkFromService(relay.msg);
    if (typeof msg === 'string') {
      console.error(`attnlab-kernel: dropped a message from the kernel thread: ${msg}`);
      return;
    }
    try {
      this.client.receive(msg);
    } catch (e) {
      console.error(`attnlab-kernel: could not send on a message from the kernel thread (${msg.type}): ${e instanceof Error ? e.message : String(e)}`);
    }
    // Credit back each output once it has left on iopub: that is the worker's backpressure.
    if (msg.type === 'output') void this.handlers.sent().then(() => this.toChild({ kind: 'sent', n: 1 }));
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    const oom = /heap out of memory|Allocation failed/.test(this.stderrTail);
    const how = this.reason
      ?? (oom ? 'a cell ran out of memory (a fatal JavaScript heap out-of-memory ended the kernel process)'
        : signal ? `the kernel process was killed (${signal})` : `the kernel process exited (code ${code})`);
    const reason = `${how}; a fresh kernel was started: every variable, import and plugin of the old one is lost`;
    this.client.fail(reason);
    this.handlers.died(reason);
  }
}

/** The message as the service protocol says it is, or what is wrong with it. */
export function checkFromService(m: unknown): FromService | string {
  if (typeof m !== 'object' || m === null) return `expected an object, got ${m === null ? 'null' : typeof m}`;
  const r = m as Record<string, unknown>;
  switch (r['type']) {
    case 'reply':
      return typeof r['id'] === 'number' && typeof r['ok'] === 'boolean' ? (m as FromService) : 'a reply without a numeric id';
    case 'output': {
      const out = r['out'] as Record<string, unknown> | null;
      // Types the core may add later pass; what cannot be mapped or serialized is caught on sending.
      if (typeof out !== 'object' || out === null || typeof out['type'] !== 'string') return 'an output without a type';
      if (out['type'] === 'stream' && (typeof out['text'] !== 'string' || (out['name'] !== 'stdout' && out['name'] !== 'stderr'))) return 'a stream output without text';
      return m as FromService;
    }
    case 'inputRequest':
      return typeof r['prompt'] === 'string' ? (m as FromService) : 'an input request without a prompt';
    case 'fatal':
      return typeof r['error'] === 'string' ? (m as FromService) : 'a fatal message without an error';
    default:
      return `unknown message type ${JSON.stringify(r['type'])?.slice(0, 40)}`;
  }
}
