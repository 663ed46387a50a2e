import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as zmq from 'zeromq';
// Subpath imports: the main thread never loads TypeScript (the core on the worker thread does).
import { isCompleteCode } from '@attnlab/kernel/is-complete';
import { LANGUAGE_INFO } from '@attnlab/kernel/kernel-info';
import type { ServiceClient } from '@attnlab/kernel/service-client';
import { toIopubMessage } from '@attnlab/kernel/jupyter-messages';
import type { ExecuteReply, KernelOutput } from '@attnlab/kernel';
import { configureNodeVulkan } from '@attnlab/tensor';
import { Signer, WireError, type Message } from './wire.js';
import { CoreProcess } from './core-process.js';
import { BadRequest, str, num } from './requests.js';

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

  /** Resolves when everything queued so far has been handed to the socket. */
  flushed(): Promise<void> {
    return this.tail;
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

/** history_request answers from this many latest executions (ipykernel keeps a database; we keep memory bounded). */
const HISTORY_KEPT = 10_000;

/**
 * The Node host: ZeroMQ on the main thread, the kernel core on a worker thread in a kernel process
 * of its own (core-process.ts), so the control channel (interrupt, shutdown) and the heartbeat
 * answer while a cell computes, and nothing a cell does ends this process. Binds only the address
 * in the connection file. Messages with a bad or replayed signature, malformed JSON or ill-typed
 * parts are logged and dropped without executing; ill-typed request fields get an error reply.
 */
export class NodeKernel {
  private readonly signer: Signer;
  private readonly session = randomUUID();
  private readonly shell = new zmq.Router();
  private readonly control = new zmq.Router();
  private readonly stdin = new zmq.Router();
  // noDrop: at the high-water mark a send waits (backpressure to the cell) instead of dropping output.
  private readonly iopub = new zmq.Publisher({ noDrop: true });
  private readonly hb = new zmq.Reply();
  private readonly iopubQueue = new SendQueue(this.iopub);
  private readonly stdinQueue = new SendQueue(this.stdin);
  private core!: CoreProcess;
  private parent: Message | null = null;
  /** The execute_request whose prompt() is waiting, for the stdin channel. */
  private stdinParent: Message | null = null;
  private executionCount = 0;
  private stopped = false;
  private history: [number, number, string][] = [];
  /** An execute_request is running on the core (its error reports a death; none: a notice does). */
  private executing = false;
  /** The last execute_request, to report a kernel process death between cells on. */
  private lastExecute: Message | null = null;
  /**
   * After an execute_request fails (stop_on_error, as ipykernel): execute_requests already
   * queued on the shell socket are answered 'aborted' without running.
   */
  private aborting = false;
  /** The shell message being handled was queued while aborting. */
  private abortThis = false;

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

  private newCore(): CoreProcess {
    const core: CoreProcess = new CoreProcess({
      output: (m) => this.output(m),
      inputRequest: (prompt, password) => this.requestInput(prompt, password),
      fatal: (error) => this.publish('stream', { name: 'stderr', text: `${error}\n` }, this.parent),
      died: (reason) => this.coreDied(core, reason),
      sent: () => this.iopubQueue.flushed(),
    });
    return core;
  }

  /**
   * The kernel process died under a cell (process.exit, out of memory, parentPort.close()):
   * bring up a fresh one at once, as a kernel manager's auto-restart would. A running cell
   * reports the death as its error; between cells a notice goes on the last cell's output.
   */
  private coreDied(dead: CoreProcess, reason: string): void {
    if (this.stopped || dead !== this.core) return;
    console.error(`attnlab-kernel: ${reason}`);
    this.core = this.newCore();
    this.executionCount = 0;
    this.history = [];
    if (!this.executing) this.publish('stream', { name: 'stderr', text: `KernelDied: ${reason}.\n` }, this.lastExecute);
  }

  private requestInput(prompt: string, password: boolean): void {
    const parent = this.stdinParent;
    if (!parent) {
      this.core.input('');
      return;
    }
    this.stdinQueue.send(this.signer.serialize('input_request', { prompt, password }, parent, this.session, parent.identities));
  }

  private async stdinReplies(): Promise<void> {
    await this.receive(this.stdin, async (msg) => {
      if (msg.header.msg_type === 'input_reply') this.core.input(str(msg.content, 'value', ''));
    });
  }

  /** Verified messages from a socket, one at a time; bad ones are logged and dropped. */
  private async receive(sock: zmq.Router, handle: (msg: Message) => Promise<void>): Promise<void> {
    for await (const frames of sock) {
      if (this.stopped) break;
      try {
        const msg = this.signer.parse(frames);
        if (sock === this.shell) {
          // Aborting ends with the last request that was already queued when the cell failed
          // (decided before any reply goes out, so a request sent after it is never caught).
          this.abortThis = this.aborting;
          if (this.aborting) this.aborting = sock.readable;
        }
        await handle(msg);
      } catch (e) {
        // Nothing in one message may end the loop that serves its socket.
        console.error(`attnlab-kernel: ${e instanceof WireError ? '' : 'a request failed: '}${e instanceof Error ? e.message : String(e)}`);
      }
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
    process.on('uncaughtException', (e) => console.error(`attnlab-kernel: uncaught exception on the I/O thread: ${e.stack ?? e.message}`));
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
    const { msgType, content, metadata, buffers } = toIopubMessage(m);
    this.publish(msgType, content, this.parent, { metadata, buffers });
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
          if (this.abortThis) {
            // Queued behind a cell that failed or was interrupted: cancelled, no output of its own, and no count
            // (as ipykernel: a count would make JupyterLab show [N] on a cell that never ran).
            await this.reply(sock, msg, 'execute_reply', { status: 'aborted', execution_count: null });
            break;
          }
          const code = str(msg.content, 'code', '');
          const silent = msg.content['silent'] === true;
          const store = msg.content['store_history'] !== false && !silent;
          const allowStdin = msg.content['allow_stdin'] === true;
          if (!silent) this.publish('execute_input', { code, execution_count: this.executionCount + 1 }, msg);
          this.stdinParent = allowStdin ? msg : null;
          this.lastExecute = msg;
          this.executing = true;
          let r: ExecuteReply;
          try {
            r = await this.core.request<ExecuteReply>({ type: 'execute', code, silent: !store, allowStdin });
          } catch (e) {
            // The kernel process died under the cell (a restart, or the cell killed it): say so on the cell.
            const evalue = e instanceof Error ? e.message : String(e);
            const ename = evalue === 'kernel restarted' ? 'KernelRestarted' : 'KernelDied';
            this.publish('error', { ename, evalue, traceback: [`${ename}: ${evalue}`] }, msg);
            r = { status: 'error', executionCount: this.executionCount, ename, evalue, traceback: [] };
          } finally {
            this.stdinParent = null;
            this.executing = false;
          }
          this.executionCount = r.executionCount;
          if (store) {
            this.history.push([0, r.executionCount, code]);
            if (this.history.length > HISTORY_KEPT) this.history.splice(0, this.history.length - HISTORY_KEPT);
          }
          if (r.status === 'error' && !silent && msg.content['stop_on_error'] !== false) this.aborting = sock.readable;
          await this.reply(sock, msg, 'execute_reply', r.status === 'ok'
            ? { status: 'ok', execution_count: r.executionCount, user_expressions: {}, payload: [] }
            : { status: 'error', execution_count: r.executionCount, ename: r.ename, evalue: r.evalue, traceback: r.traceback });
          break;
        }
        case 'is_complete_request':
          await this.reply(sock, msg, 'is_complete_reply', { status: isCompleteCode(str(msg.content, 'code', '')) });
          break;
        case 'complete_request': {
          const code = str(msg.content, 'code', '');
          const pos = num(msg.content, 'cursor_pos', code.length);
          await this.reply(sock, msg, 'complete_reply', await this.core.request({ type: 'complete', code, cursorPos: pos }));
          break;
        }
        case 'inspect_request': {
          const code = str(msg.content, 'code', '');
          const pos = num(msg.content, 'cursor_pos', code.length);
          await this.reply(sock, msg, 'inspect_reply', await this.core.request({ type: 'inspect', code, cursorPos: pos, detailLevel: num(msg.content, 'detail_level', 0) }));
          break;
        }
        case 'history_request':
          {
            const tail = this.history.slice(-num(msg.content, 'n', 100));
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
            this.aborting = false;
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
    } catch (e) {
      // A request that cannot be served (ill-typed content, the kernel process gone) gets an
      // error reply, so the client does not wait; the loop goes on (see receive).
      const ename = e instanceof BadRequest ? e.name : 'KernelError';
      const evalue = `${type}: ${e instanceof Error ? e.message : String(e)}`;
      console.error(`attnlab-kernel: ${ename}: ${evalue}`);
      if (type.endsWith('_request')) await this.reply(sock, msg, type.replace(/_request$/, '_reply'), { status: 'error', ename, evalue, traceback: [`${ename}: ${evalue}`] });
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
