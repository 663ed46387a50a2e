import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { installKernelspec } from '../src/index.js';

/** Debian's python3-jupyter-kernel-test against the installed kernelspec (temp prefix). */
test('jupyter_kernel_test conformance', () => {
  const prefix = mkdtempSync(join(tmpdir(), 'attnlab-kernelspec-'));
  try {
    installKernelspec({ prefix });
    const dir = fileURLToPath(new URL('../../test/python/', import.meta.url));
    // Debian's python has the jupyter packages (a pyenv python on PATH may not).
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    const r = spawnSync(python, ['-m', 'unittest', '-v', 'test_conformance'], {
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
