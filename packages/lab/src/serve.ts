import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream, existsSync, realpathSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.ipynb': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

export interface ServeOptions {
  /** The built lab (packages/lab/build). */
  root: string;
  port?: number;
  /** Always loopback unless the user insists: the lab has no authentication. */
  host?: string;
}

/** Inside `root` (both real paths), or the root itself. */
function within(root: string, file: string): boolean {
  return file === root || file.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** The real path of a file under root, or why it cannot be served: symlinks are followed, then re-checked against the root. */
async function locate(root: string, path: string): Promise<{ file: string; size: number } | { status: 403 | 404 }> {
  const lexical = normalize(join(root, path));
  if (!within(root, lexical)) return { status: 403 };
  let real: string;
  try {
    real = await realpath(lexical);
  } catch {
    return { status: 404 };
  }
  // A symlink inside the site may point anywhere; only what really lies under the root is served.
  if (!within(root, real)) return { status: 403 };
  const st = await stat(real).catch(() => null);
  if (!st?.isFile()) return { status: 404 };
  return { file: real, size: st.size };
}

/**
 * The lab's static server. COOP/COEP make the page cross-origin isolated, which gives the kernel
 * worker SharedArrayBuffer: the interrupt flag and blocking stdin need it. /lab/... routes fall
 * back to index.html (JupyterLab's own URLs).
 */
export function serve(options: ServeOptions): Promise<{ server: Server; url: string }> {
  const given = resolve(options.root);
  if (!existsSync(join(given, 'index.html'))) throw new Error(`attnlab serve: ${given} has no index.html; build the lab first (npm run build)`);
  // Compare real paths: the root itself may be reached through a symlink.
  const root = realpathSync(given);
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => void respond(req, res));
  async function respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers: Record<string, string> = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'X-Content-Type-Options': 'nosniff',
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, headers).end('method not allowed');
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400, headers).end('bad url');
      return;
    }
    if (path === '/' || path === '/lab' || path.startsWith('/lab/')) path = '/index.html';
    const found = await locate(root, path);
    if ('status' in found) {
      if (found.status === 403) res.writeHead(403, headers).end('forbidden');
      else res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    const { file, size } = found;
    headers['Content-Type'] = TYPES[extname(file)] ?? 'application/octet-stream';
    // Hashed bundles never change; everything else (index, settings, contents) is revalidated.
    headers['Cache-Control'] = /\.[0-9a-f]{8,}\.js$/.test(file) ? 'public, max-age=31536000, immutable' : 'no-cache';
    headers['Content-Length'] = String(size);
    res.writeHead(200, headers);
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).on('error', () => res.destroy()).pipe(res);
  }
  return new Promise((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => fail(e.code === 'EADDRINUSE' ? new Error(`attnlab serve: port ${options.port} is in use; pick another with --port`) : e));
    server.listen(options.port ?? 8888, host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : options.port;
      ok({ server, url: `http://${host}:${port}/lab` });
    });
  });
}
