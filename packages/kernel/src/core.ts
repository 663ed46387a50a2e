import { CellSyntaxError } from './compile.js';
import { toMimeBundle, type MimeBundle } from './display.js';
import { CellScope, type Importer } from './run.js';
import { CommRegistry, type CommManager, type CommOutput, type BufferLike } from './comm.js';

/** What the core asks its host to send (the host maps these to Jupyter messages). */
export type KernelOutput =
  | { type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { type: 'display_data'; data: MimeBundle; displayId?: string }
  | { type: 'update_display_data'; data: MimeBundle; displayId: string }
  | { type: 'execute_result'; data: MimeBundle; executionCount: number }
  | { type: 'error'; ename: string; evalue: string; traceback: string[] }
  | { type: 'clear_output'; wait: boolean }
  | CommOutput;

export interface KernelHost {
  send(msg: KernelOutput): void;
  importModule?: Importer;
  /**
   * Int32Array over a SharedArrayBuffer: another thread sets [0] = 1 to interrupt a running cell.
   * Cell loops check it, so even `while (true) {}` stops. Without it, `interrupt()` still cancels
   * a cell that is waiting on a promise.
   */
  interruptFlag?: Int32Array;
}

/** Thrown inside a cell (or raced against it) when the kernel is interrupted. */
export class KernelInterrupt extends Error {
  constructor() {
    super('the cell was interrupted');
    this.name = 'Interrupted';
  }
}

export type ExecuteReply =
  | { status: 'ok'; executionCount: number }
  | { status: 'error'; executionCount: number; ename: string; evalue: string; traceback: string[] };

export interface DisplayHandle {
  readonly id: string;
  update(value: unknown): void;
}

/** The functions cells see as globals: display, console routed to the cell's streams. */
export interface CellGlobals {
  display(value: unknown): DisplayHandle;
  clearOutput(wait?: boolean): void;
}

/**
 * What packages that must not depend on @attnlab/kernel (widgets, plots) reach through
 * `globalThis[Symbol.for('attnlab.kernel')]`: the running kernel's comms and display.
 */
export interface KernelContext {
  comms: CommManager;
  display(value: unknown): DisplayHandle;
  clearOutput(wait?: boolean): void;
}

export const KERNEL_CONTEXT = Symbol.for('attnlab.kernel');

let nextDisplay = 1;

/**
 * The transport-free kernel core: runs cells, routes console output and displays to the host,
 * and reports errors with the cell's own line. (Comms, completion, interrupt and plugins: next.)
 */
export class KernelCore {
  private readonly scope: CellScope;
  private count = 0;
  /** Comms with the front end (the widget protocol is built on these). */
  readonly comms: CommRegistry;

  private cancelRun: ((e: Error) => void) | null = null;

  constructor(private readonly host: KernelHost) {
    const flag = host.interruptFlag;
    const check = flag
      ? () => {
          if (Atomics.load(flag, 0) !== 0) throw new KernelInterrupt();
        }
      : () => {};
    this.scope = new CellScope(host.importModule, check);
    this.comms = new CommRegistry((m) => host.send(m), (text) => host.send({ type: 'stream', name: 'stderr', text }));
    const g = globalThis as unknown as { display?: unknown; clearOutput?: unknown } & Record<symbol, unknown>;
    const api = this.globals();
    g.display = api.display;
    g.clearOutput = api.clearOutput;
    const context: KernelContext = { comms: this.comms, display: api.display, clearOutput: api.clearOutput };
    g[KERNEL_CONTEXT] = context;
  }

  /** comm_open from the front end. */
  commOpen(content: unknown, metadata: unknown = {}, buffers: readonly BufferLike[] = []): void {
    this.comms.receiveOpen(content, metadata, buffers);
  }

  /** comm_msg from the front end. */
  commMsg(content: unknown, metadata: unknown = {}, buffers: readonly BufferLike[] = []): void {
    this.comms.receiveMsg(content, metadata, buffers);
  }

  /** comm_close from the front end. */
  commClose(content: unknown, metadata: unknown = {}): void {
    this.comms.receiveClose(content, metadata);
  }

  /** comm_info_reply content: the open comms, optionally of one target. */
  commInfo(targetName?: string): { status: 'ok'; comms: Record<string, { target_name: string }> } {
    return { status: 'ok', comms: this.comms.info(targetName) };
  }

  get executionCount(): number {
    return this.count;
  }

  /** Names declared by cells so far. */
  who(): string[] {
    return this.scope.declared;
  }

  globals(): CellGlobals {
    return {
      display: (value: unknown): DisplayHandle => {
        const id = `attnlab-${nextDisplay++}`;
        this.host.send({ type: 'display_data', data: toMimeBundle(value), displayId: id });
        return { id, update: (v: unknown) => this.host.send({ type: 'update_display_data', data: toMimeBundle(v), displayId: id }) };
      },
      clearOutput: (wait = false): void => this.host.send({ type: 'clear_output', wait }),
    };
  }

  /**
   * Stops the running cell: sets the shared flag (loops throw at their next iteration) and
   * cancels the cell's pending await. Earlier cells' state is kept.
   */
  interrupt(): void {
    if (this.host.interruptFlag) Atomics.store(this.host.interruptFlag, 0, 1);
    this.cancelRun?.(new KernelInterrupt());
  }

  async execute(code: string, options: { silent?: boolean } = {}): Promise<ExecuteReply> {
    const executionCount = options.silent ? this.count : ++this.count;
    const restore = this.captureConsole();
    // A flag left set by an interrupt that arrived between cells must not stop this one.
    if (this.host.interruptFlag) Atomics.store(this.host.interruptFlag, 0, 0);
    const cancelled = new Promise<never>((_, reject) => (this.cancelRun = reject));
    try {
      const { value, hasResult } = await Promise.race([this.scope.run(code), cancelled]);
      if (hasResult && value !== undefined && !options.silent) {
        this.host.send({ type: 'execute_result', data: toMimeBundle(value), executionCount });
      }
      return { status: 'ok', executionCount };
    } catch (e) {
      const err = describeError(e);
      this.host.send({ type: 'error', ...err });
      return { status: 'error', executionCount, ...err };
    } finally {
      this.cancelRun = null;
      if (this.host.interruptFlag) Atomics.store(this.host.interruptFlag, 0, 0);
      restore();
    }
  }

  private captureConsole(): () => void {
    const c = console as unknown as Record<string, (...a: unknown[]) => void>;
    const saved = { log: c['log']!, info: c['info']!, warn: c['warn']!, error: c['error']! };
    const to = (name: 'stdout' | 'stderr') => (...args: unknown[]): void => {
      this.host.send({ type: 'stream', name, text: args.map((a) => (typeof a === 'string' ? a : toMimeBundle(a)['text/plain'])).join(' ') + '\n' });
    };
    c['log'] = c['info'] = to('stdout');
    c['warn'] = c['error'] = to('stderr');
    return () => Object.assign(c, saved);
  }
}

function describeError(e: unknown): { ename: string; evalue: string; traceback: string[] } {
  if (e instanceof KernelInterrupt) {
    return { ename: 'Interrupted', evalue: 'the cell was interrupted; earlier state is kept', traceback: ['Interrupted: the cell was interrupted; earlier state is kept'] };
  }
  if (e instanceof CellSyntaxError) {
    return { ename: 'SyntaxError', evalue: e.message, traceback: [`SyntaxError: ${e.message}`, `    at cell line ${e.line}, column ${e.column}`] };
  }
  if (e instanceof Error) {
    // Frames from the kernel itself say nothing about the user's cell.
    const frames = (e.stack ?? '').split('\n').slice(1).filter((l) => l.includes('eval at') || l.includes('<anonymous>'));
    return { ename: e.name, evalue: e.message, traceback: [`${e.name}: ${e.message}`, ...frames] };
  }
  return { ename: 'Error', evalue: String(e), traceback: [`Uncaught ${String(e)}`] };
}
