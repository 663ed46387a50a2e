import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { installKernelspec } from '../src/index.js';

/** Issue 15 item 5, with Debian's jupyter_client: queued cells are aborted after an interrupt or error. */
test('execute requests queued behind an interrupted or failed cell are aborted (jupyter_client)', () => {
  const prefix = mkdtempSync(join(tmpdir(), 'attnlab-abort-'));
  try {
    installKernelspec({ prefix });
    const dir = fileURLToPath(new URL('../../test/python/', import.meta.url));
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    const r = spawnSync(python, ['-m', 'unittest', '-v', 'test_abort'], {
      cwd: dir,
      env: { ...process.env, JUPYTER_PATH: join(prefix, 'share', 'jupyter'), PYTHONDONTWRITEBYTECODE: '1' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    const log = `${r.stdout}\n${r.stderr}`;
    console.log(log.split('\n').filter((l) => / \.\.\. /.test(l) || /^(Ran|OK|FAILED)/.test(l)).join('\n'));
    assert.equal(r.status, 0, log);
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});
