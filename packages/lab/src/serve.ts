import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
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

/**
 * The lab's static server. COOP/COEP make the page cross-origin isolated, which gives the kernel
 * worker SharedArrayBuffer: the interrupt flag and blocking stdin need it. /lab/... routes fall
 * back to index.html (JupyterLab's own URLs).
 */
export function serve(options: ServeOptions): Promise<{ server: Server; url: string }> {
  const root = resolve(options.root);
  if (!existsSync(join(root, 'index.html'))) throw new Error(`attnlab serve: ${root} has no index.html; build the lab first (npm run build)`);
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
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
    const file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403, headers).end('forbidden');
      return;
    }
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    headers['Content-Type'] = TYPES[extname(file)] ?? 'application/octet-stream';
    // Hashed bundles never change; everything else (index, settings, contents) is revalidated.
    headers['Cache-Control'] = /\.[0-9a-f]{8,}\.js$/.test(file) ? 'public, max-age=31536000, immutable' : 'no-cache';
    headers['Content-Length'] = String(statSync(file).size);
    res.writeHead(200, headers);
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => fail(e.code === 'EADDRINUSE' ? new Error(`attnlab serve: port ${options.port} is in use; pick another with --port`) : e));
    server.listen(options.port ?? 8888, host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : options.port;
      ok({ server, url: `http://${host}:${port}/lab` });
    });
  });
}
