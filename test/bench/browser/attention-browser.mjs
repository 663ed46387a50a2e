// The attention bench's Chromium part: onnxruntime-web's WebGPU provider works in a browser
// (under Dawn in Node it does not), so ours and ORT's are timed side by side in one page.
// The page is served from the repository itself through Playwright routing (an import map
// points the bare specifiers at the built packages), at a loopback origin so it is a secure
// context with navigator.gpu.
import { readFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../../e2e/browser.mjs';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const ORIGIN = 'http://127.0.0.1:9/';
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

const importMap = {
  imports: {
    '@attnlab/tensor': '/packages/tensor/dist/src/index.js',
    '@attnlab/attention': '/packages/attention/dist/src/index.js',
    'onnxruntime-web/webgpu': '/node_modules/onnxruntime-web/dist/ort.webgpu.min.mjs',
  },
};

const page = `<!doctype html><meta charset="utf-8"><title>attention bench</title>
<script type="importmap">${JSON.stringify(importMap)}</script>
<script type="module">window.bench = await import("/test/bench/browser/attention-page.mjs");</script>`;

export async function browserSuite(records, { Ns } = {}) {
  let browser;
  try {
    browser = await launchChromium();
  } catch (e) {
    records.push({ suite: 'attention', device: 'webgpu', host: 'chromium', adapter: 'none', error: `chromium did not start: ${e.message}` });
    return;
  }
  try {
    const context = await browser.newContext();
    await context.route(`${ORIGIN}**`, async (route) => {
      const path = decodeURIComponent(new URL(route.request().url()).pathname);
      if (path === '/') return route.fulfill({ status: 200, contentType: 'text/html', body: page });
      const file = normalize(join(repo, path));
      if (!file.startsWith(repo) || !existsSync(file) || !statSync(file).isFile()) {
        return route.fulfill({ status: 404, body: `not found: ${path}` });
      }
      return route.fulfill({ status: 200, contentType: TYPES[extname(file)] ?? 'application/octet-stream', body: await readFile(file) });
    });
    const tab = await context.newPage();
    const errors = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    tab.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await tab.goto(ORIGIN);
    await tab.waitForFunction(() => window.bench, null, { timeout: 60_000 }).catch(() => {
      throw new Error(`bench page did not load: ${errors.join('; ') || 'no error reported'}`);
    });
    tab.setDefaultTimeout(0);
    const got = await tab.evaluate((Ns) => window.bench.run({ Ns }), Ns ?? null);
    for (const r of [got].flat()) {
      records.push(r);
      console.log(JSON.stringify(r));
    }
  } catch (e) {
    records.push({ suite: 'attention', device: 'webgpu', host: 'chromium', adapter: 'unknown', error: String(e.message ?? e).slice(0, 500) });
    console.warn(`attention bench (chromium): ${e.message}`);
  } finally {
    await browser.close();
  }
}
