/**
 * The Web Worker entry of the in-browser kernel: the host-independent KernelCore behind
 * postMessage. WebGPU comes from `navigator.gpu`, which dedicated workers have.
 */
import { KernelCore, type KernelOutput } from '@attnlab/kernel';
import { importInWorker } from './modules.js';
import type { FromWorker, ToWorker, WorkerRequest } from './protocol.js';
import { isCompleteCode } from './complete-check.js';

interface WorkerScope {
  postMessage(msg: FromWorker, transfer?: Transferable[]): void;
  addEventListener(type: 'message', cb: (e: MessageEvent<ToWorker>) => void): void;
  fetch: typeof fetch;
}
const self_ = globalThis as unknown as WorkerScope;

function post(msg: FromWorker): void {
  self_.postMessage(msg);
}

let core: KernelCore | null = null;

function send(out: KernelOutput): void {
  post({ type: 'output', out });
}

/** Relative paths in fetch (and so in loadHFModel) resolve to the notebook's folder, like Node's cwd. */
function resolveRelativeFetch(filesUrl: string): void {
  const original = self_.fetch.bind(globalThis);
  self_.fetch = ((input: RequestInfo | URL, init?: RequestInit) =>
    original(typeof input === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(input) && !input.startsWith('/') ? new URL(input, filesUrl).href : input, init)) as typeof fetch;
}

async function handle(req: WorkerRequest): Promise<unknown> {
  if (req.type === 'init') {
    resolveRelativeFetch(req.filesUrl);
    core = new KernelCore({ send, importModule: importInWorker, ...(req.interruptBuffer ? { interruptFlag: new Int32Array(req.interruptBuffer) } : {}) });
    return { ok: true };
  }
  if (!core) throw new Error(`kernel worker: '${req.type}' before init`);
  switch (req.type) {
    case 'execute':
      return core.execute(req.code, { silent: req.silent });
    case 'isComplete':
      return { status: isCompleteCode(req.code) };
    case 'complete':
      return { matches: [], cursor_start: req.cursorPos, cursor_end: req.cursorPos, metadata: {}, status: 'ok' };
    case 'inspect':
      return { status: 'ok', found: false, data: {}, metadata: {} };
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
    case 'inputReply':
      return null;
    case 'interrupt':
      core.interrupt();
      return null;
  }
}

self_.addEventListener('message', (e: MessageEvent<ToWorker>) => {
  const req = e.data;
  if (typeof req !== 'object' || req === null || typeof req.id !== 'number' || typeof req.type !== 'string') {
    console.warn('kernel worker: dropped a malformed message', req);
    return;
  }
  handle(req).then(
    (result) => post({ type: 'reply', id: req.id, ok: true, result }),
    (err: unknown) => post({ type: 'reply', id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});

// A rejection nobody awaited (a cell's stray promise) is reported, never fatal.
globalThis.addEventListener('unhandledrejection', (e: PromiseRejectionEvent) => {
  e.preventDefault();
  const r: unknown = e.reason;
  send({ type: 'stream', name: 'stderr', text: `Unhandled promise rejection: ${r instanceof Error ? r.stack ?? r.message : String(r)}\n` });
});
