import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import * as zmq from 'zeromq';
// Subpath imports: the main thread never loads TypeScript (the core on the worker thread does).
import { isCompleteCode } from '@attnlab/kernel/is-complete';
import { LANGUAGE_INFO } from '@attnlab/kernel/kernel-info';
import { createInputBuffer, writeInput } from '@attnlab/kernel/stdin';
import { ServiceClient } from '@attnlab/kernel/service-client';
import type { ExecuteReply, KernelOutput } from '@attnlab/kernel';
import { configureNodeVulkan } from '@attnlab/tensor';
import { Signer, WireError, type Message } from './wire.js';

/**
 * zeromq.js allows one send in flight per socket (a second one throws EBUSY): outputs published
 * back to back go through this queue, in order.
 */
class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  constructor(private readonly socket: { send(frames: Buffer[]): Promise<void> }) {}

  send(frames: Buffer[]): void {
    this.tail = this.tail.then(() => this.socket.send(frames)).catch((e: unknown) => {
      console.error(`attnlab-kernel: send failed: ${e instanceof Error ? e.message : String(e)}`);
    });
  }
}

/** The kernel core on its worker thread, with the shared memory that reaches into it. */
class CoreThread {
  readonly worker: Worker;
  readonly client: ServiceClient;
  readonly interruptFlag = new Int32Array(new SharedArrayBuffer(4));
  readonly inputBuffer = createInputBuffer();
  readonly ready: Promise<unknown>;

  constructor(handlers: { output(out: KernelOutput): void; inputRequest(prompt: string, password: boolean): void; fatal(error: string): void }) {
    this.worker = new Worker(new URL('./core-worker.js', import.meta.url));
    this.client = new ServiceClient((msg, transfer) => this.worker.postMessage(msg, transfer), handlers);
    this.worker.on('message', (m) => this.client.receive(m));
    this.worker.on('error', (e) => handlers.fatal(`kernel thread crashed: ${e.message}`));
    this.worker.on('exit', (code) => this.client.fail(`kernel thread exited (code ${code})`));
    this.ready = this.client.request({ type: 'init', interruptBuffer: this.interruptFlag.buffer as SharedArrayBuffer, inputBuffer: this.inputBuffer });
    // A thread stopped while starting (restart right after launch) rejects this; that is expected.
    this.ready.catch(() => undefined);
  }

  request<T>(req: Parameters<ServiceClient['request']>[0], transfer: ArrayBuffer[] = []): Promise<T> {
    return this.client.request<T>(req, transfer);
  }

  /** Loops see the flag at their next iteration; the message cancels pending awaits. */
  interrupt(): void {
    Atomics.store(this.interruptFlag, 0, 1);
    void this.client.request({ type: 'interrupt' }).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.client.fail('kernel restarted');
    await this.worker.terminate();
  }
}

export interface ConnectionInfo {
  ip: string;
  transport: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
}

export { LANGUAGE_INFO };

/**
 * The Node host: ZeroMQ on the main thread, the kernel core on a worker thread, so the control
 * channel (interrupt, shutdown) and the heartbeat answer while a cell computes. Binds only the
 * address in the connection file. Messages with a bad signature or malformed JSON are logged and
 * dropped without executing.
 */
export class NodeKernel {
  private readonly signer: Signer;
  private readonly session = randomUUID();
  private readonly shell = new zmq.Router();
  private readonly control = new zmq.Router();
  private readonly stdin = new zmq.Router();
  private readonly iopub = new zmq.Publisher();
  private readonly hb = new zmq.Reply();
  private readonly iopubQueue = new SendQueue(this.iopub);
  private readonly stdinQueue = new SendQueue(this.stdin);
  private core!: CoreThread;
  private parent: Message | null = null;
  /** The execute_request whose prompt() is waiting, for the stdin channel. */
  private stdinParent: Message | null = null;
  private executionCount = 0;
  private stopped = false;
  private history: [number, number, string][] = [];

  constructor(private readonly info: ConnectionInfo) {
    if (info.signature_scheme && info.signature_scheme !== 'hmac-sha256') throw new Error(`unsupported signature scheme ${info.signature_scheme}`);
    this.signer = new Signer(info.key);
  }

  static fromFile(path: string): NodeKernel {
    let info: ConnectionInfo;
    try {
      info = JSON.parse(readFileSync(path, 'utf8')) as ConnectionInfo;
    } catch (e) {
      throw new Error(`cannot read connection file ${path}: ${(e as Error).message}`);
    }
    return new NodeKernel(info);
  }

  private newCore(): CoreThread {
    return new CoreThread({
      output: (m) => this.output(m),
      inputRequest: (prompt, password) => this.requestInput(prompt, password),
      fatal: (error) => this.publish('stream', { name: 'stderr', text: `${error}\n` }, this.parent),
    });
  }

  private requestInput(prompt: string, password: boolean): void {
    const parent = this.stdinParent;
    if (!parent) {
      writeInput(this.core.inputBuffer, '');
      return;
    }
    this.stdinQueue.send(this.signer.serialize('input_request', { prompt, password }, parent, this.session, parent.identities));
  }

  private async stdinReplies(): Promise<void> {
    await this.receive(this.stdin, async (msg) => {
      if (msg.header.msg_type === 'input_reply') writeInput(this.core.inputBuffer, String(msg.content['value'] ?? ''));
    });
  }

  /** Verified messages from a socket, one at a time; bad ones are logged and dropped. */
  private async receive(sock: zmq.Router, handle: (msg: Message) => Promise<void>): Promise<void> {
    for await (const frames of sock) {
      if (this.stopped) break;
      let msg: Message;
      try {
        msg = this.signer.parse(frames);
      } catch (e) {
        if (e instanceof WireError) {
          console.error(`attnlab-kernel: ${e.message}`);
          continue;
        }
        throw e;
      }
      await handle(msg);
    }
  }

  /** Interrupt the running cell (control channel or SIGINT); state is kept. */
  interrupt(): void {
    this.core.interrupt();
  }

  private addr(port: number): string {
    return `${this.info.transport}://${this.info.ip}:${port}`;
  }

  async start(): Promise<void> {
    // Dawn reads the Vulkan driver path from the process environment, before the thread starts.
    await configureNodeVulkan();
    // Requests queue behind the thread's start; kernel_info is answered at once.
    this.core = this.newCore();
    process.on('SIGINT', () => this.interrupt());
    // The I/O thread must outlive anything that goes wrong in a request.
    process.on('unhandledRejection', (r) => console.error(`attnlab-kernel: unhandled rejection on the I/O thread: ${r instanceof Error ? r.stack ?? r.message : String(r)}`));
    await Promise.all([
      this.shell.bind(this.addr(this.info.shell_port)),
      this.control.bind(this.addr(this.info.control_port)),
      this.stdin.bind(this.addr(this.info.stdin_port)),
      this.iopub.bind(this.addr(this.info.iopub_port)),
      this.hb.bind(this.addr(this.info.hb_port)),
    ]);
    void this.heartbeat();
    void this.serve(this.control);
    void this.stdinReplies();
    this.publish('status', { execution_state: 'starting' }, null);
    await this.serve(this.shell);
  }

  private async heartbeat(): Promise<void> {
    for await (const frames of this.hb) {
      if (this.stopped) break;
      await this.hb.send(frames);
    }
  }

  private async serve(sock: zmq.Router): Promise<void> {
    await this.receive(sock, (msg) => this.handle(sock, msg));
  }

  private publish(type: string, content: Record<string, unknown>, parent: Message | null, extra: { metadata?: Record<string, unknown>; buffers?: ArrayBuffer[] } = {}): void {
    this.iopubQueue.send(this.signer.serialize(type, content, parent, this.session, [Buffer.from(type)], extra));
  }

  private async reply(sock: zmq.Router, msg: Message, type: string, content: Record<string, unknown>): Promise<void> {
    await sock.send(this.signer.serialize(type, content, msg, this.session, msg.identities));
  }

  private output(m: KernelOutput): void {
    const p = this.parent;
    switch (m.type) {
      case 'stream': return this.publish('stream', { name: m.name, text: m.text }, p);
      case 'display_data': return this.publish('display_data', { data: m.data, metadata: {}, transient: m.displayId ? { display_id: m.displayId } : {} }, p);
      case 'update_display_data': return this.publish('update_display_data', { data: m.data, metadata: {}, transient: { display_id: m.displayId } }, p);
      case 'execute_result': return this.publish('execute_result', { data: m.data, metadata: {}, execution_count: m.executionCount }, p);
      case 'error': return this.publish('error', { ename: m.ename, evalue: m.evalue, traceback: m.traceback }, p);
      case 'clear_output': return this.publish('clear_output', { wait: m.wait }, p);
      case 'comm_open': return this.publish('comm_open', { comm_id: m.commId, target_name: m.targetName, data: m.data }, p, { metadata: m.metadata, buffers: m.buffers });
      case 'comm_msg': return this.publish('comm_msg', { comm_id: m.commId, data: m.data }, p, { metadata: m.metadata, buffers: m.buffers });
      case 'comm_close': return this.publish('comm_close', { comm_id: m.commId, data: m.data }, p, { metadata: m.metadata });
    }
  }

  private async handle(sock: zmq.Router, msg: Message): Promise<void> {
    const type = msg.header.msg_type;
    // Outputs of the running cell belong to its execute_request: a control message arriving
    // meanwhile (interrupt_request) must not take them over.
    if (sock === this.shell) this.parent = msg;
    this.publish('status', { execution_state: 'busy' }, msg);
    try {
      switch (type) {
        case 'kernel_info_request':
          await this.reply(sock, msg, 'kernel_info_reply', {
            status: 'ok', protocol_version: '5.3', implementation: 'attnlab', implementation_version: '0.1.0',
            language_info: LANGUAGE_INFO, banner: 'attnlab TypeScript kernel', help_links: [],
          });
          break;
        case 'execute_request': {
          const code = String(msg.content['code'] ?? '');
          const silent = msg.content['silent'] === true;
          const store = msg.content['store_history'] !== false && !silent;
          const allowStdin = msg.content['allow_stdin'] === true;
          if (!silent) this.publish('execute_input', { code, execution_count: this.executionCount + 1 }, msg);
          this.stdinParent = allowStdin ? msg : null;
          let r: ExecuteReply;
          try {
            r = await this.core.request<ExecuteReply>({ type: 'execute', code, silent: !store, allowStdin });
          } catch (e) {
            // The thread died under the cell (restart, crash): report it on the cell.
            const evalue = e instanceof Error ? e.message : String(e);
            this.publish('error', { ename: 'KernelRestarted', evalue, traceback: [`KernelRestarted: ${evalue}`] }, msg);
            r = { status: 'error', executionCount: this.executionCount, ename: 'KernelRestarted', evalue, traceback: [] };
          } finally {
            this.stdinParent = null;
          }
          this.executionCount = r.executionCount;
          if (store) this.history.push([0, r.executionCount, code]);
          await this.reply(sock, msg, 'execute_reply', r.status === 'ok'
            ? { status: 'ok', execution_count: r.executionCount, user_expressions: {}, payload: [] }
            : { status: 'error', execution_count: r.executionCount, ename: r.ename, evalue: r.evalue, traceback: r.traceback });
          break;
        }
        case 'is_complete_request':
          await this.reply(sock, msg, 'is_complete_reply', { status: isCompleteCode(String(msg.content['code'] ?? '')) });
          break;
        case 'complete_request': {
          const code = String(msg.content['code'] ?? '');
          const pos = Number(msg.content['cursor_pos'] ?? code.length);
          await this.reply(sock, msg, 'complete_reply', await this.core.request({ type: 'complete', code, cursorPos: pos }));
          break;
        }
        case 'inspect_request': {
          const code = String(msg.content['code'] ?? '');
          const pos = Number(msg.content['cursor_pos'] ?? code.length);
          await this.reply(sock, msg, 'inspect_reply', await this.core.request({ type: 'inspect', code, cursorPos: pos, detailLevel: Number(msg.content['detail_level'] ?? 0) }));
          break;
        }
        case 'history_request':
          {
            const tail = this.history.slice(-Number(msg.content['n'] ?? 100));
            const history = msg.content['output'] ? tail.map(([s, n, code]) => [s, n, [code, null]]) : tail;
            await this.reply(sock, msg, 'history_reply', { status: 'ok', history });
          }
          break;
        case 'comm_info_request': {
          const target = msg.content['target_name'];
          await this.reply(sock, msg, 'comm_info_reply', await this.core.request({ type: 'commInfo', ...(typeof target === 'string' ? { targetName: target } : {}) }));
          break;
        }
        case 'interrupt_request':
          this.interrupt();
          await this.reply(sock, msg, 'interrupt_reply', { status: 'ok' });
          break;
        case 'shutdown_request': {
          const restart = msg.content['restart'] === true;
          if (restart) {
            // Restart in place before replying, so the next request meets the fresh kernel.
            await this.core.stop();
            this.core = this.newCore();
            this.executionCount = 0;
            this.history = [];
            await this.core.ready;
          }
          await this.reply(sock, msg, 'shutdown_reply', { status: 'ok', restart });
          if (!restart) setTimeout(() => this.stop(), 50);
          break;
        }
        case 'comm_open':
        case 'comm_msg':
        case 'comm_close':
          await this.core.request(commRequest(type, msg));
          break;
        default:
          console.error(`attnlab-kernel: unknown msg_type '${type}' ignored`);
      }
    } finally {
      this.publish('status', { execution_state: 'idle' }, msg);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const s of [this.shell, this.control, this.stdin, this.iopub, this.hb]) s.close();
    process.exit(0);
  }
}

function bufferOf(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** A comm message from the front end as a service request (malformed content is the core's to report). */
function commRequest(type: 'comm_open' | 'comm_msg' | 'comm_close', msg: Message): Parameters<ServiceClient['request']>[0] {
  const c = msg.content as Record<string, unknown>;
  const commId = typeof c['comm_id'] === 'string' ? c['comm_id'] : '';
  const data = (typeof c['data'] === 'object' && c['data'] !== null ? c['data'] : {}) as Record<string, unknown>;
  const metadata = (msg.metadata ?? {}) as Record<string, unknown>;
  if (type === 'comm_open') return { type: 'commOpen', commId, targetName: typeof c['target_name'] === 'string' ? c['target_name'] : '', data, metadata, buffers: msg.buffers.map(bufferOf) };
  if (type === 'comm_msg') return { type: 'commMsg', commId, data, metadata, buffers: msg.buffers.map(bufferOf) };
  return { type: 'commClose', commId, data, metadata };
}
