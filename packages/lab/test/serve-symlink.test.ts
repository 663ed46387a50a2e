import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { serve } from '../src/serve.js';

function get(base: string, path: string): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

/**
 * A site folder beside a secret folder; inside the site: a symlink to the secret file, one to the
 * secret folder, a symlink chain ending outside, and a symlink that stays inside (served).
 */
function layout(): { top: string; site: string } {
  const top = mkdtempSync(join(tmpdir(), 'attnlab-serve-link-'));
  const site = join(top, 'site');
  const secret = join(top, 'secret');
  mkdirSync(join(site, 'static'), { recursive: true });
  mkdirSync(secret);
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>lab</title>');
  writeFileSync(join(site, 'static', 'real.txt'), 'inside');
  writeFileSync(join(secret, 'key.txt'), 'TOP-SECRET');
  symlinkSync(join(secret, 'key.txt'), join(site, 'leak.txt'));
  symlinkSync(secret, join(site, 'outdir'));
  symlinkSync('../leak.txt', join(site, 'static', 'hop.txt'));
  symlinkSync('real.txt', join(site, 'static', 'alias.txt'));
  return { top, site };
}

test('serve: symlinks that leave the site folder are refused over real HTTP; links inside it are served', async () => {
  const { top, site } = layout();
  const { server, url } = await serve({ root: site, port: 0 });
  try {
    assert.match(url, /^http:\/\/127\.0\.0\.1:/);
    for (const path of ['/leak.txt', '/outdir/key.txt', '/static/hop.txt', '/outdir/../leak.txt', '/%6ceak.txt']) {
      const r = await get(url, path);
      assert.equal(r.status, 403, `${path}: status ${r.status}`);
      assert.doesNotMatch(r.body, /TOP-SECRET/, path);
    }
    const inside = await get(url, '/static/alias.txt');
    assert.equal(inside.status, 200);
    assert.equal(inside.body, 'inside');
    assert.equal((await get(url, '/static/real.txt')).body, 'inside');
    assert.equal((await get(url, '/nope.txt')).status, 404);
  } finally {
    server.close();
    rmSync(top, { recursive: true, force: true });
  }
});

test('serve: a site folder reached through a symlink still serves its own files', async () => {
  const { top, site } = layout();
  const via = join(top, 'via');
  symlinkSync(site, via);
  const { server, url } = await serve({ root: via, port: 0 });
  try {
    assert.equal((await get(url, '/static/real.txt')).body, 'inside');
    assert.equal((await get(url, '/leak.txt')).status, 403);
    assert.equal(realpathSync(via), realpathSync(site));
  } finally {
    server.close();
    rmSync(top, { recursive: true, force: true });
  }
});
