import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { python } from './python-suite.js';
import { installKernelspec, uninstallKernelspec, kernelspecDir, jupyterDataDir } from '../src/index.js';

test('kernel install writes kernel.json and the logos; uninstall removes them', () => {
  const prefix = mkdtempSync(join(tmpdir(), 'attnlab-spec-'));
  try {
    const dir = installKernelspec({ prefix });
    assert.equal(dir, join(prefix, 'share', 'jupyter', 'kernels', 'attnlab'));
    const spec = JSON.parse(readFileSync(join(dir, 'kernel.json'), 'utf8'));
    assert.equal(spec.display_name, 'TypeScript (attnlab)');
    assert.equal(spec.language, 'typescript');
    assert.ok(spec.argv.includes('{connection_file}'));
    for (const size of [32, 64]) {
      const png = readFileSync(join(dir, `logo-${size}x${size}.png`));
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      assert.equal(png.readUInt32BE(16), size);
      assert.equal(png.readUInt32BE(20), size);
      // The pixels decode: one filter byte + RGBA per row; a corner is transparent, the centre opaque.
      const idatLen = png.readUInt32BE(33);
      const raw = inflateSync(png.subarray(41, 41 + idatLen));
      assert.equal(raw.length, size * (size * 4 + 1));
      const alpha = (x: number, y: number) => raw[y * (size * 4 + 1) + 1 + x * 4 + 3];
      assert.equal(alpha(0, 0), 0);
      assert.equal(alpha(size / 2, size / 2), 255);
    }
    assert.match(readFileSync(join(dir, 'logo-svg.svg'), 'utf8'), /^<svg /);
    uninstallKernelspec({ prefix });
    assert.equal(existsSync(dir), false);
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});

// Issue 15 item 11: --user honours JUPYTER_DATA_DIR (then XDG_DATA_HOME), as jupyter_client does.
test('kernel install --user writes into JUPYTER_DATA_DIR, where jupyter_client finds it', () => {
  const data = mkdtempSync(join(tmpdir(), 'attnlab-data-'));
  const cli = fileURLToPath(new URL('../../../../packages/lab/bin/attnlab.mjs', import.meta.url));
  const bin = fileURLToPath(new URL('../../bin/attnlab-kernel.mjs', import.meta.url));
  const saved = process.env['JUPYTER_DATA_DIR'];
  try {
    process.env['JUPYTER_DATA_DIR'] = data;
    assert.equal(kernelspecDir({ user: true }), join(data, 'kernels', 'attnlab'));
    assert.equal(jupyterDataDir({ XDG_DATA_HOME: '/xdg', HOME: '/home/u' }), '/xdg/jupyter');
    assert.equal(jupyterDataDir({ HOME: '/home/u' }), '/home/u/.local/share/jupyter');
    // Both command lines: `attnlab kernel install --user` and `attnlab-kernel install --user`.
    const env = { ...process.env, JUPYTER_DATA_DIR: data };
    for (const argv of existsSync(cli) ? [[cli, 'kernel', 'install', '--user'], [bin, 'install', '--user']] : [[bin, 'install', '--user']]) {
      rmSync(join(data, 'kernels'), { recursive: true, force: true });
      const r = spawnSync(process.execPath, argv, { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(existsSync(join(data, 'kernels', 'attnlab', 'kernel.json')), `${argv.join(' ')} wrote into JUPYTER_DATA_DIR`);
      const found = spawnSync(python, ['-c', 'from jupyter_client.kernelspec import KernelSpecManager; print(KernelSpecManager().find_kernel_specs()["attnlab"])'], { env, encoding: 'utf8' });
      assert.equal(found.stdout.trim(), join(data, 'kernels', 'attnlab'), found.stderr);
    }
  } finally {
    if (saved === undefined) delete process.env['JUPYTER_DATA_DIR'];
    else process.env['JUPYTER_DATA_DIR'] = saved;
    rmSync(data, { recursive: true, force: true });
  }
});
