import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { serve } from '../src/serve.js';
import { main } from '../src/cli.js';

function get(url: string, rawPath?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path: rawPath ?? u.pathname, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

function site(): string {
  const dir = mkdtempSync(join(tmpdir(), 'attnlab-serve-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>lab</title>');
  mkdirSync(join(dir, 'static'));
  writeFileSync(join(dir, 'static', 'main.0123456789abcdef.js'), 'console.log(1)');
  writeFileSync(join(dir, '..', 'secret.txt'), 'no');
  return dir;
}

test('serve: COOP/COEP on every response, /lab routes answer index.html, hashed bundles are immutable', async () => {
  const { server, url } = await serve({ root: site(), port: 0 });
  try {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/lab$/);
    const page = await get(url.replace(/\/lab$/, '/lab/tree/examples'));
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>lab<\/title>/);
    assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(page.headers['cross-origin-embedder-policy'], 'require-corp');
    const js = await get(url.replace(/\/lab$/, '/static/main.0123456789abcdef.js'));
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(String(js.headers['cache-control']), /immutable/);
    const missing = await get(url.replace(/\/lab$/, '/nope.js'));
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['cross-origin-embedder-policy'], 'require-corp');
  } finally {
    server.close();
  }
});

test('serve: paths outside the build folder are refused', async () => {
  const { server, url } = await serve({ root: site(), port: 0 });
  try {
    const r = await get(url, '/%2e%2e/secret.txt');
    assert.ok(r.status === 403 || r.status === 404, `status ${r.status}`);
    assert.doesNotMatch(r.body, /^no$/);
  } finally {
    server.close();
  }
});

test('serve: a folder without a built lab is a clear error', () => {
  const empty = mkdtempSync(join(tmpdir(), 'attnlab-empty-'));
  assert.throws(() => serve({ root: empty, port: 0 }), /has no index\.html; build the lab first/);
});

test('cli: install-extensions copies the prebuilt extensions into P/share/jupyter/labextensions', async () => {
  const prefix = mkdtempSync(join(tmpdir(), 'attnlab-prefix-'));
  assert.equal(await main(['install-extensions', '--prefix', prefix]), 0);
  const dir = join(prefix, 'share/jupyter/labextensions/@attnlab/kernel-extension');
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { jupyterlab: { _build: { load: string } } };
  assert.ok(existsSync(join(dir, pkg.jupyterlab._build.load)), 'remoteEntry copied');
  assert.ok(existsSync(join(dir, 'static/worker/attnlab-kernel-worker.js')), 'kernel worker copied');
});

test('cli: bad arguments name the problem', async () => {
  await assert.rejects(main(['install-extensions']), /needs --prefix/);
  await assert.rejects(main(['serve', '--port', 'abc']), /--port must be an integer/);
  await assert.rejects(main(['frobnicate']), /unknown command 'frobnicate'/);
});

test('cli: kernel install --prefix writes the kernelspec', async () => {
  const prefix = mkdtempSync(join(tmpdir(), 'attnlab-kprefix-'));
  assert.equal(await main(['kernel', 'install', '--prefix', prefix]), 0);
  const spec = JSON.parse(readFileSync(join(prefix, 'share/jupyter/kernels/attnlab/kernel.json'), 'utf8')) as { display_name: string };
  assert.equal(spec.display_name, 'TypeScript (attnlab)');
});
