import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { installKernelspec } from '../src/index.js';

/** Every notebook under examples/ runs headless (nbclient) through the installed kernelspec; every plot output carries an image/svg+xml. */
test('every examples/*.ipynb runs without an error output', () => {
  const prefix = mkdtempSync(join(tmpdir(), 'attnlab-nb-'));
  try {
    installKernelspec({ prefix });
    const root = fileURLToPath(new URL('../../../../', import.meta.url));
    const script = fileURLToPath(new URL('../../test/python/run_notebooks.py', import.meta.url));
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    const r = spawnSync(python, [script, root], {
      env: { ...process.env, JUPYTER_PATH: join(prefix, 'share', 'jupyter') },
      encoding: 'utf8',
      timeout: 600_000,
    });
    console.log(r.stdout);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    // Every plot has its static SVG (checked per output by the script); the examples do plot.
    assert.ok(Number(/plot outputs: (\d+)/.exec(r.stdout)?.[1]) >= 2, r.stdout);
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});
