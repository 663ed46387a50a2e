import { KernelMessage } from '@jupyterlab/services';
import { BaseKernel, type IKernel } from '@jupyterlite/services';
import type { KernelOutput } from '@attnlab/kernel';
import { toIopubMessage } from '@attnlab/kernel/jupyter-messages';
import { LANGUAGE_INFO } from '@attnlab/kernel/kernel-info';
import { createInputBuffer, writeInput } from '@attnlab/kernel/stdin';
import { StopOnError } from '@attnlab/kernel/service-client';
import { WorkerConnection } from './worker-connection.js';

type ExecuteReply = KernelMessage.IExecuteReplyMsg['content'];
type CoreReply = { status: 'ok'; executionCount: number } | { status: 'error'; executionCount: number; ename: string; evalue: string; traceback: string[] };

export interface AttnlabKernelOptions extends IKernel.IOptions {
  /** URL of the bundled worker script. */
  workerUrl: string;
  /** Absolute URL of the folder that relative paths in cells resolve to. */
  filesUrl: string;
}

/** Kernels alive on this page, by id, so the kernel client can interrupt them. */
export const liveKernels = new Map<string, AttnlabKernel>();

/**
 * The in-browser attnlab kernel: Jupyter messages on the page, the kernel core in a Web Worker.
 * Interrupt sets a SharedArrayBuffer flag the worker's cell code checks; without cross-origin
 * isolation there is no shared memory, so an interrupt restarts the worker and says so.
 */
export class AttnlabKernel extends BaseKernel {
  private conn: WorkerConnection;
  private interruptFlag: Int32Array | null = null;
  private inputBuffer: SharedArrayBuffer | null = null;
  private readonly started: Promise<void>;
  /** Execute requests queued behind a failed or interrupted cell are aborted (ipykernel's stop_on_error). */
  private readonly stopOnError = new StopOnError();

  constructor(private readonly opts: AttnlabKernelOptions) {
    super({ ...opts, sendMessage: keepClientQueue(opts.sendMessage) });
    this.conn = this.spawn();
    this.started = this.init();
    // Disposed before the worker answered init: awaiters still see the rejection; nobody else must.
    this.started.catch(() => undefined);
    liveKernels.set(this.id, this);
  }

  override get ready(): Promise<void> {
    return this.started;
  }

  override dispose(): void {
    if (this.isDisposed) return;
    liveKernels.delete(this.id);
    this.conn.terminate('kernel shut down');
    super.dispose();
  }

  /** Interrupt the running cell; returns false when the worker had to be restarted instead. */
  interrupt(): boolean {
    if (this.interruptFlag) {
      // The flag stops a busy loop; the message cancels a cell waiting on a promise.
      Atomics.store(this.interruptFlag, 0, 1);
      void this.conn.request({ type: 'interrupt' }).catch(() => undefined);
      return true;
    }
    this.conn.terminate('interrupted: the kernel was restarted');
    this.stream({
      name: 'stderr',
      text: 'This page is not cross-origin isolated, so a running cell cannot be interrupted in place: the kernel was restarted and its state cleared. Serve the lab with `attnlab serve` (it sends COOP/COEP headers) for real interrupts.\n',
    });
    this.conn = this.spawn();
    void this.init();
    return false;
  }

  private spawn(): WorkerConnection {
    return new WorkerConnection(this.opts.workerUrl, {
      output: (out) => this.forward(out),
      inputRequest: (prompt, password) => this.inputRequest({ prompt, password }),
      fatal: (error) => this.stream({ name: 'stderr', text: `${error}\n` }),
    });
  }

  private async init(): Promise<void> {
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
    const sab = isolated ? new SharedArrayBuffer(4) : undefined;
    this.interruptFlag = sab ? new Int32Array(sab) : null;
    // stdin: prompt() in the worker blocks on this buffer until input_reply fills it.
    this.inputBuffer = isolated ? createInputBuffer() : null;
    await this.conn.request({ type: 'init', filesUrl: this.opts.filesUrl, ...(sab ? { interruptBuffer: sab } : {}), ...(this.inputBuffer ? { inputBuffer: this.inputBuffer } : {}) });
  }

  /** A core output as an iopub message under the current request (the mapping both hosts share). */
  private forward(out: KernelOutput): void {
    // JupyterLite counts executions itself (and keeps counting across worker restarts): use its count.
    const m = toIopubMessage(out, { executionCount: this.executionCount });
    const parent = this.parentHeader;
    const options = { channel: 'iopub', msgType: m.msgType, session: parent?.session ?? '', parentHeader: parent, content: m.content, metadata: m.metadata, buffers: m.buffers };
    // One iopub message of the type toIopubMessage named; createMessage only stamps the header.
    this.opts.sendMessage(KernelMessage.createMessage(options as unknown as KernelMessage.IOptions<KernelMessage.IDisplayDataMsg>));
  }

  /**
   * JupyterLite's BaseKernel (0.8) drops comm_info_request without a reply, and the widget
   * manager waits on that reply forever when it restores widgets after a page reload. Answer it
   * here, framed by busy/idle like every other request.
   */
  override async handleMessage(msg: KernelMessage.IMessage): Promise<void> {
    if (msg.header.msg_type === 'execute_request' && this.stopOnError.aborts(msg.header.date)) return this.abort(msg as KernelMessage.IExecuteRequestMsg);
    if (msg.header.msg_type !== 'comm_info_request') return super.handleMessage(msg);
    const request = msg as KernelMessage.ICommInfoRequestMsg;
    const frame = { session: msg.header.session, parentHeader: msg.header };
    const status = (execution_state: 'busy' | 'idle'): void =>
      this.opts.sendMessage(KernelMessage.createMessage<KernelMessage.IStatusMsg>({ channel: 'iopub', msgType: 'status', ...frame, content: { execution_state } }));
    status('busy');
    // Never rejects: with the worker gone (restart in progress) it answers "no comms open".
    const reply = await this.commInfoRequest(request.content);
    this.opts.sendMessage(KernelMessage.createMessage<KernelMessage.ICommInfoReplyMsg>({ channel: 'shell', msgType: 'comm_info_reply', session: request.header.session, parentHeader: request.header, content: reply }));
    status('idle');
  }

  /** An execute_request queued behind a failed cell: 'aborted', no execute_input, no output. */
  private abort(request: KernelMessage.IExecuteRequestMsg): void {
    const frame = { session: request.header.session, parentHeader: request.header };
    const status = (execution_state: 'busy' | 'idle'): void =>
      this.opts.sendMessage(KernelMessage.createMessage<KernelMessage.IStatusMsg>({ channel: 'iopub', msgType: 'status', ...frame, content: { execution_state } }));
    status('busy');
    // No execution count, as ipykernel: JupyterLab shows a count as "this cell ran".
    const content: KernelMessage.IExecuteReplyMsg['content'] = { status: 'aborted', execution_count: null };
    this.opts.sendMessage(KernelMessage.createMessage<KernelMessage.IExecuteReplyMsg>({ channel: 'shell', msgType: 'execute_reply', ...frame, content }));
    status('idle');
  }

  /**
   * A request whose answer may never come because the worker died (shutdown, restart, crash):
   * then `fallback` is the answer. JupyterLite does not catch a kernel handler's rejection, and
   * on the page it would surface as an uncaught error.
   */
  private async ask<T>(req: Parameters<WorkerConnection['request']>[0], fallback: T): Promise<T> {
    try {
      return await this.conn.request<T>(req);
    } catch {
      return fallback;
    }
  }

  async kernelInfoRequest(): Promise<KernelMessage.IInfoReplyMsg['content']> {
    return {
      implementation: 'attnlab',
      implementation_version: '0.1.0',
      language_info: LANGUAGE_INFO,
      protocol_version: '5.3',
      status: 'ok',
      banner: 'attnlab: TypeScript with WebGPU attention, in a Web Worker',
      help_links: [],
    };
  }

  async executeRequest(content: KernelMessage.IExecuteRequestMsg['content']): Promise<ExecuteReply> {
    try {
      const r = await this.conn.request<CoreReply>({ type: 'execute', code: content.code, silent: content.silent ?? false, allowStdin: content.allow_stdin ?? false });
      this.stopOnError.executed(content, r.status);
      if (r.status === 'ok') return { status: 'ok', execution_count: this.executionCount, user_expressions: {} };
      return { status: 'error', execution_count: this.executionCount, ename: r.ename, evalue: r.evalue, traceback: r.traceback };
    } catch (e) {
      // The worker died under this cell (restart after an interrupt, or a crash).
      const evalue = e instanceof Error ? e.message : String(e);
      this.stopOnError.executed(content, 'error');
      this.publishExecuteError({ ename: 'KernelRestarted', evalue, traceback: [`KernelRestarted: ${evalue}`] });
      return { status: 'error', execution_count: this.executionCount, ename: 'KernelRestarted', evalue, traceback: [] };
    }
  }

  async completeRequest(content: KernelMessage.ICompleteRequestMsg['content']): Promise<KernelMessage.ICompleteReplyMsg['content']> {
    return this.ask({ type: 'complete', code: content.code, cursorPos: content.cursor_pos }, { status: 'ok', matches: [], cursor_start: content.cursor_pos, cursor_end: content.cursor_pos, metadata: {} });
  }

  async inspectRequest(content: KernelMessage.IInspectRequestMsg['content']): Promise<KernelMessage.IInspectReplyMsg['content']> {
    return this.ask({ type: 'inspect', code: content.code, cursorPos: content.cursor_pos, detailLevel: content.detail_level }, { status: 'ok', found: false, data: {}, metadata: {} });
  }

  async isCompleteRequest(content: KernelMessage.IIsCompleteRequestMsg['content']): Promise<KernelMessage.IIsCompleteReplyMsg['content']> {
    return this.ask({ type: 'isComplete', code: content.code }, { status: 'unknown' });
  }

  async commInfoRequest(content: KernelMessage.ICommInfoRequestMsg['content']): Promise<KernelMessage.ICommInfoReplyMsg['content']> {
    return this.ask({ type: 'commInfo', ...(content.target_name ? { targetName: content.target_name } : {}) }, { status: 'ok', comms: {} });
  }

  inputReply(content: KernelMessage.IInputReplyMsg['content']): void {
    // The worker is blocked in prompt(): hand the answer over through shared memory.
    if (this.inputBuffer) writeInput(this.inputBuffer, content.status === 'ok' ? content.value : '');
  }

  async commOpen(msg: KernelMessage.ICommOpenMsg): Promise<void> {
    const c = msg.content;
    await this.ask({ type: 'commOpen', commId: c.comm_id, targetName: c.target_name, data: c.data as Record<string, unknown>, metadata: msg.metadata as Record<string, unknown>, buffers: toArrayBuffers(msg.buffers) }, null);
  }

  async commMsg(msg: KernelMessage.ICommMsgMsg): Promise<void> {
    const c = msg.content;
    await this.ask({ type: 'commMsg', commId: c.comm_id, data: c.data as Record<string, unknown>, metadata: msg.metadata as Record<string, unknown>, buffers: toArrayBuffers(msg.buffers) }, null);
  }

  async commClose(msg: KernelMessage.ICommCloseMsg): Promise<void> {
    const c = msg.content;
    await this.ask({ type: 'commClose', commId: c.comm_id, data: c.data as Record<string, unknown>, metadata: msg.metadata as Record<string, unknown> }, null);
  }
}

/**
 * JupyterLite 0.8's kernel client cancels every request queued for the kernel when it sees an
 * error execute_reply (queued execute requests then never get a reply, completions and comm
 * messages are lost) unless the reply's metadata says `cause: 'interrupt'`. This kernel answers
 * its queue itself (StopOnError aborts the execute requests queued behind the failure), so its
 * error replies carry that mark to keep the client's queue intact.
 */
function keepClientQueue(send: IKernel.SendMessage): IKernel.SendMessage {
  return (msg) => {
    if (msg.header.msg_type === 'execute_reply' && (msg.content as { status?: string }).status === 'error') {
      send({ ...msg, metadata: { ...msg.metadata, cause: 'interrupt' } });
    } else {
      send(msg);
    }
  };
}

function toArrayBuffers(buffers: (ArrayBuffer | ArrayBufferView)[] | undefined): ArrayBuffer[] {
  return (buffers ?? []).map((b) => {
    if (b instanceof ArrayBuffer) return b.slice(0);
    const v = b as ArrayBufferView;
    return (v.buffer as ArrayBuffer).slice(v.byteOffset, v.byteOffset + v.byteLength);
  });
}
