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
  /** Host-specific settings (the browser worker's files URL). */
  [extra: string]: unknown;
}

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

/** Returns the function the host calls with each message from its I/O side. */
export function createKernelService(opts: ServiceOptions): (msg: unknown) => void {
  let core: KernelCore | null = null;
  const send = (out: KernelOutput) => opts.post({ type: 'output', out });

  async function handle(req: ServiceRequest): Promise<unknown> {
    if (req.type === 'init') {
      opts.onInit?.(req);
      const flag = req.interruptBuffer ? new Int32Array(req.interruptBuffer) : undefined;
      const inputBuffer = req.inputBuffer;
      core = new KernelCore({
        send,
        ...(opts.importModule ? { importModule: opts.importModule } : {}),
        ...(flag ? { interruptFlag: flag } : {}),
        ...(inputBuffer
          ? {
              input: (prompt: string, password: boolean) => {
                armInput(inputBuffer);
                opts.post({ type: 'inputRequest', prompt, password });
                return readInput(inputBuffer, flag);
              },
            }
          : {}),
      });
      const ready = core;
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
      (result) => opts.post({ type: 'reply', id: req.id, ok: true, result }),
      (err: unknown) => opts.post({ type: 'reply', id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  };
}
