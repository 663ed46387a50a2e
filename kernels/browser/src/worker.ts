/**
 * The Web Worker side of the in-browser kernel: @attnlab/kernel's message service (the same one
 * the Node host runs in a worker thread). WebGPU comes from `navigator.gpu`, which dedicated
 * workers have; imports resolve through the module table the bundle's generated entry passes to
 * startWorker (scripts/bundle.mjs).
 */
import { createKernelService } from '@attnlab/kernel';
import { moduleImporter, type ModuleTable } from './modules.js';
import type { FromWorker } from './protocol.js';

interface WorkerScope {
  postMessage(msg: FromWorker): void;
  addEventListener(type: 'message', cb: (e: MessageEvent<unknown>) => void): void;
  fetch: typeof fetch;
}
const self_ = globalThis as unknown as WorkerScope;

/** Relative paths in fetch (and so in loadHFModel) resolve to the notebook's folder, like Node's cwd. */
function resolveRelativeFetch(filesUrl: string): void {
  const original = self_.fetch.bind(globalThis);
  self_.fetch = ((input: RequestInfo | URL, init?: RequestInit) =>
    original(typeof input === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(input) && !input.startsWith('/') ? new URL(input, filesUrl).href : input, init)) as typeof fetch;
}

/**
 * The base-URL hook, `globalThis[Symbol.for('attnlab.resolvePath')]`: `(path) => URL`. Loaders
 * (loadHFModel) resolve a user's path with it before fetching, so their errors show the URL
 * fetched: a relative path from the notebook's folder, `/x` from the lab's root (the file
 * browser's top), a URL unchanged. `filesUrl` is `<base>/files/<notebook folder>/`.
 */
function installPathResolver(filesUrl: string): void {
  const at = new URL(filesUrl).pathname.indexOf('/files/');
  const root = at < 0 ? filesUrl : new URL(new URL(filesUrl).pathname.slice(0, at + '/files/'.length), filesUrl).href;
  const resolvePath = (p: string): string => (/^[a-z][a-z0-9+.-]*:/i.test(p) ? p : p.startsWith('/') ? new URL(p.replace(/^\/+/, ''), root).href : new URL(p, filesUrl).href);
  (globalThis as Record<symbol, unknown>)[Symbol.for('attnlab.resolvePath')] = resolvePath;
}

/** Starts the kernel service on this worker's messages; `modules` are the packages cells import by name. */
export function startWorker(modules: ModuleTable): void {
  const handle = createKernelService({
    post: (msg) => self_.postMessage(msg),
    importModule: moduleImporter(modules),
    onInit: (req) => {
      if (typeof req['filesUrl'] === 'string') {
        resolveRelativeFetch(req['filesUrl']);
        installPathResolver(req['filesUrl']);
      }
    },
    // Shipped beside this script by scripts/types.mjs: the standard library and the packages' .d.ts.
    languageFiles: async () => {
      const url = new URL('types/types.json', (globalThis as unknown as { location: { href: string } }).location.href);
      const res = await fetch(url);
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
      return new Map(Object.entries((await res.json()) as Record<string, string>));
    },
  });

  self_.addEventListener('message', (e) => handle(e.data));
  // Unhandled rejections are the core's to report (on the cell that caused them).
}
