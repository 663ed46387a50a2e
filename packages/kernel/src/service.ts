/**
 * The kernel core as a message service, for hosts that run it off the I/O thread: the browser's
 * Web Worker and the Node host's worker thread speak this same protocol with their I/O side.
 * Requests carry an id and get exactly one reply; outputs stream while a request runs. Jupyter
 * headers stay on the I/O side: the service only sees contents. Two SharedArrayBuffers make the
 * blocking parts work: an interrupt flag the cell's loops check, and a stdin buffer `prompt()`
 * waits on.
 */
import { KernelCore, type KernelOutput } from './core.js';
import { isCompleteCode } from './is-complete.js';
import type { Importer } from './run.js';
import { armInput, readInput } from './stdin.js';

export interface InitRequest {
  type: 'init';
  /** Int32Array(1) view target: the I/O side sets [0] = 1 to interrupt (needs shared memory). */
  interruptBuffer?: SharedArrayBuffer;
  /** From `createInputBuffer()`: the I/O side writes input_reply values here. */
  inputBuffer?: SharedArrayBuffer;
  /**
   * Int32Array(1) view target: outputs posted and not yet sent on by the I/O side, which
   * decrements it (Atomics.sub + notify) as each one leaves. With it the service waits while
   * OUTPUTS_IN_FLIGHT are outstanding: a cell printing faster than the front end reads is slowed
   * down instead of filling memory.
   */
  outputCredits?: SharedArrayBuffer;
  /** Host-specific settings (the browser worker's files URL). */
  [extra: string]: unknown;
}

/** Stream text is sent in messages of up to this many characters (ipykernel coalesces too). */
export const STREAM_CHUNK = 64 * 1024;
/** Text printed by a cell that then waits is sent after at most this many milliseconds. */
export const STREAM_FLUSH_MS = 50;
/** Outputs the service lets be in flight before it waits for the I/O side (with outputCredits). */
export const OUTPUTS_IN_FLIGHT = 64;

export type ServiceRequest =
  | InitRequest
  | { type: 'execute'; code: string; silent: boolean; allowStdin: boolean }
  | { type: 'complete'; code: string; cursorPos: number }
  | { type: 'inspect'; code: string; cursorPos: number; detailLevel: number }
  | { type: 'isComplete'; code: string }
  | { type: 'commInfo'; targetName?: string }
  | { type: 'commOpen'; commId: string; targetName: string; data: Record<string, unknown>; metadata: Record<string, unknown>; buffers: ArrayBuffer[] }
  | { type: 'commMsg'; commId: string; data: Record<string, unknown>; metadata: Record<string, unknown>; buffers: ArrayBuffer[] }
  | { type: 'commClose'; commId: string; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { type: 'interrupt' };

export type ToService = ServiceRequest & { id: number };

export type FromService =
  | { type: 'reply'; id: number; ok: true; result: unknown }
  | { type: 'reply'; id: number; ok: false; error: string }
  | { type: 'output'; out: KernelOutput }
  | { type: 'inputRequest'; prompt: string; password: boolean }
  | { type: 'fatal'; error: string };

export function isFromService(v: unknown): v is FromService {
  return typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string';
}

export interface ServiceOptions {
  post(msg: FromService): void;
  importModule?: Importer;
  /** Host set-up run on init, before the core exists (the browser resolves relative fetches). */
  onInit?(req: InitRequest): void;
  /** Declaration files for completion, loaded after init (hosts without a file system). */
  languageFiles?(): Promise<Map<string, string>>;
}

/**
 * Outputs on their way to the I/O side: consecutive stream text of one stream is joined into one
 * message (flushed when it reaches STREAM_CHUNK, after STREAM_FLUSH_MS, and before any other
 * message, so order is kept), and with shared credits the sender waits while the I/O side is
 * behind. Nothing is dropped.
 */
class OutputQueue {
  private name: 'stdout' | 'stderr' = 'stdout';
  private parts: string[] = [];
  private size = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  credits: Int32Array | null = null;
  interruptFlag: Int32Array | null = null;

  constructor(private readonly post: (msg: FromService) => void) {}

  output(out: KernelOutput): void {
    if (out.type !== 'stream') {
      this.flush();
      this.emit({ type: 'output', out });
      return;
    }
    if (out.name !== this.name) this.flush();
    this.name = out.name;
    this.parts.push(out.text);
    this.size += out.text.length;
    if (this.size >= STREAM_CHUNK) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), STREAM_FLUSH_MS);
  }

  /** Anything that is not an output (a reply, an input request) follows the outputs before it. */
  message(msg: FromService): void {
    this.flush();
    this.post(msg);
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.parts.length === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.emit({ type: 'output', out: { type: 'stream', name: this.name, text } });
  }

  private emit(msg: FromService): void {
    const credits = this.credits;
    if (credits) {
      for (let n = Atomics.load(credits, 0); n >= OUTPUTS_IN_FLIGHT; n = Atomics.load(credits, 0)) {
        // Never hold up an interrupt: the cell stops at its next loop check.
        if (this.interruptFlag && Atomics.load(this.interruptFlag, 0) !== 0) break;
        Atomics.wait(credits, 0, n, 50);
      }
      Atomics.add(credits, 0, 1);
    }
    this.post(msg);
  }
}

/** The core uncaught exceptions of callbacks (timers, microtasks) are reported on. */
let uncaughtTarget: KernelCore | null = null;

/**
 * An exception thrown in a callback a cell scheduled (setTimeout, queueMicrotask, an event) would
 * end the worker: report it on the cell instead, like an unhandled rejection. Installed once per
 * worker, when the service starts.
 */
function catchUncaught(): void {
  const proc = (globalThis as { process?: { versions?: { node?: string }; on?(ev: string, cb: (e: unknown) => void): void } }).process;
  // Node itself, not a bundler's process shim (whose on() does nothing).
  if (typeof proc?.versions?.node === 'string' && proc.on) {
    proc.on('uncaughtException', (e) => uncaughtTarget?.reportUncaught(e));
    return;
  }
  const g = globalThis as { addEventListener?(t: string, cb: (e: { error?: unknown; message?: string; preventDefault(): void }) => void): void };
  g.addEventListener?.('error', (e) => {
    e.preventDefault();
    uncaughtTarget?.reportUncaught(e.error ?? e.message);
  });
}

/** Returns the function the host calls with each message from its I/O side. */
export function createKernelService(opts: ServiceOptions): (msg: unknown) => void {
  let core: KernelCore | null = null;
  const outputs = new OutputQueue(opts.post);
  const send = (out: KernelOutput) => outputs.output(out);

  async function handle(req: ServiceRequest): Promise<unknown> {
    if (req.type === 'init') {
      opts.onInit?.(req);
      const flag = req.interruptBuffer ? new Int32Array(req.interruptBuffer) : undefined;
      const inputBuffer = req.inputBuffer;
      outputs.credits = req.outputCredits ? new Int32Array(req.outputCredits) : null;
      outputs.interruptFlag = flag ?? null;
      if (uncaughtTarget === null) catchUncaught();
      core = new KernelCore({
        send,
        ...(opts.importModule ? { importModule: opts.importModule } : {}),
        ...(flag ? { interruptFlag: flag } : {}),
        ...(inputBuffer
          ? {
              input: (prompt: string, password: boolean) => {
                armInput(inputBuffer);
                outputs.message({ type: 'inputRequest', prompt, password });
                return readInput(inputBuffer, flag);
              },
            }
          : {}),
      });
      const ready = core;
      uncaughtTarget = core;
      opts.languageFiles?.().then(
        (files) => ready.useLanguageFiles(files),
        (e: unknown) => console.warn(`kernel service: completion works without library types: ${e instanceof Error ? e.message : String(e)}`),
      );
      return { ok: true };
    }
    if (!core) throw new Error(`kernel service: '${req.type}' before init`);
    switch (req.type) {
      case 'execute':
        return core.execute(req.code, { silent: req.silent, allowStdin: req.allowStdin });
      case 'isComplete':
        return { status: isCompleteCode(req.code) };
      case 'complete':
        return core.complete(req.code, req.cursorPos);
      case 'inspect':
        return core.inspect(req.code, req.cursorPos, req.detailLevel);
      case 'commInfo':
        return core.commInfo(req.targetName);
      case 'commOpen':
        core.commOpen({ comm_id: req.commId, target_name: req.targetName, data: req.data }, req.metadata, req.buffers);
        return null;
      case 'commMsg':
        core.commMsg({ comm_id: req.commId, data: req.data }, req.metadata, req.buffers);
        return null;
      case 'commClose':
        core.commClose({ comm_id: req.commId, data: req.data }, req.metadata);
        return null;
      case 'interrupt':
        core.interrupt();
        return null;
      default:
        throw new Error(`kernel service: unknown request type '${(req as { type: string }).type}'`);
    }
  }

  return (msg: unknown) => {
    const req = msg as ToService;
    if (typeof req !== 'object' || req === null || typeof req.id !== 'number' || typeof req.type !== 'string') {
      console.warn('kernel service: dropped a malformed message', msg);
      return;
    }
    handle(req).then(
      (result) => outputs.message({ type: 'reply', id: req.id, ok: true, result }),
      (err: unknown) => outputs.message({ type: 'reply', id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  };
}
