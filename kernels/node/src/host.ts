import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as zmq from 'zeromq';
import { KernelCore, type KernelOutput } from '@attnlab/kernel';
import { Signer, WireError, type Message } from './wire.js';

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

export const LANGUAGE_INFO = {
  name: 'typescript',
  version: '5.9',
  mimetype: 'text/typescript',
  file_extension: '.ts',
  codemirror_mode: 'typescript',
  pygments_lexer: 'typescript',
};

/**
 * The Node host: the kernel core behind ZeroMQ. Binds only the address in the connection file.
 * Messages with a bad signature or malformed JSON are logged and dropped without executing.
 * (Interrupting a busy cell needs the I/O thread split; that comes next.)
 */
export class NodeKernel {
  private readonly signer: Signer;
  private readonly session = randomUUID();
  private readonly shell = new zmq.Router();
  private readonly control = new zmq.Router();
  private readonly stdin = new zmq.Router();
  private readonly iopub = new zmq.Publisher();
  private readonly hb = new zmq.Reply();
  private core: KernelCore;
  private parent: Message | null = null;
  private stopped = false;
  private history: [number, number, string][] = [];

  constructor(private readonly info: ConnectionInfo) {
    if (info.signature_scheme && info.signature_scheme !== 'hmac-sha256') throw new Error(`unsupported signature scheme ${info.signature_scheme}`);
    this.signer = new Signer(info.key);
    this.core = this.newCore();
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

  private newCore(): KernelCore {
    return new KernelCore({ send: (m) => this.output(m) });
  }

  private addr(port: number): string {
    return `${this.info.transport}://${this.info.ip}:${port}`;
  }

  async start(): Promise<void> {
    await Promise.all([
      this.shell.bind(this.addr(this.info.shell_port)),
      this.control.bind(this.addr(this.info.control_port)),
      this.stdin.bind(this.addr(this.info.stdin_port)),
      this.iopub.bind(this.addr(this.info.iopub_port)),
      this.hb.bind(this.addr(this.info.hb_port)),
    ]);
    void this.heartbeat();
    void this.serve(this.control);
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
      await this.handle(sock, msg);
    }
  }

  private publish(type: string, content: Record<string, unknown>, parent: Message | null, extra: { metadata?: Record<string, unknown>; buffers?: ArrayBuffer[] } = {}): void {
    void this.iopub.send(this.signer.serialize(type, content, parent, this.session, [Buffer.from(type)], extra));
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
    this.parent = msg;
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
          if (!silent) this.publish('execute_input', { code, execution_count: this.core.executionCount + 1 }, msg);
          const r = await this.core.execute(code, { silent: !store });
          if (store) this.history.push([0, r.executionCount, code]);
          await this.reply(sock, msg, 'execute_reply', r.status === 'ok'
            ? { status: 'ok', execution_count: r.executionCount, user_expressions: {}, payload: [] }
            : { status: 'error', execution_count: r.executionCount, ename: r.ename, evalue: r.evalue, traceback: r.traceback });
          break;
        }
        case 'is_complete_request':
          await this.reply(sock, msg, 'is_complete_reply', { status: isComplete(String(msg.content['code'] ?? '')) });
          break;
        case 'complete_request':
          await this.reply(sock, msg, 'complete_reply', { status: 'ok', matches: [], cursor_start: msg.content['cursor_pos'], cursor_end: msg.content['cursor_pos'], metadata: {} });
          break;
        case 'inspect_request':
          await this.reply(sock, msg, 'inspect_reply', { status: 'ok', found: false, data: {}, metadata: {} });
          break;
        case 'history_request':
          {
            const tail = this.history.slice(-Number(msg.content['n'] ?? 100));
            const history = msg.content['output'] ? tail.map(([s, n, code]) => [s, n, [code, null]]) : tail;
            await this.reply(sock, msg, 'history_reply', { status: 'ok', history });
          }
          break;
        case 'comm_info_request': {
          const target = msg.content['target_name'];
          await this.reply(sock, msg, 'comm_info_reply', this.core.commInfo(typeof target === 'string' ? target : undefined));
          break;
        }
        case 'interrupt_request':
          await this.reply(sock, msg, 'interrupt_reply', { status: 'ok' });
          break;
        case 'shutdown_request': {
          const restart = msg.content['restart'] === true;
          await this.reply(sock, msg, 'shutdown_reply', { status: 'ok', restart });
          if (restart) this.core = this.newCore();
          else setTimeout(() => this.stop(), 50);
          break;
        }
        case 'comm_open':
          this.core.commOpen(msg.content, msg.metadata, msg.buffers.map(bufferOf));
          break;
        case 'comm_msg':
          this.core.commMsg(msg.content, msg.metadata, msg.buffers.map(bufferOf));
          break;
        case 'comm_close':
          this.core.commClose(msg.content, msg.metadata);
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

/** 'complete' unless brackets or a string are left open (for consoles). */
export function isComplete(code: string): 'complete' | 'incomplete' {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < code.length; i++) {
    const ch = code[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'" || ch === '`') quote = ch;
    else if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
  }
  return depth > 0 || quote ? 'incomplete' : 'complete';
}
