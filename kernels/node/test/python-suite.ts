/**
 * Runs a Python unittest module from test/python/ against the kernelspec installed in a temp prefix, with Debian's
 * python (it has the jupyter packages; a pyenv python on PATH may not). Asserts it passed; logs one line per test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installKernelspec } from '../src/index.js';

export const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

export function runPythonSuite(module: string): void {
  const prefix = mkdtempSync(join(tmpdir(), `attnlab-${module}-`));
  try {
    installKernelspec({ prefix });
    const dir = fileURLToPath(new URL('../../test/python/', import.meta.url));
    const r = spawnSync(python, ['-m', 'unittest', '-v', module], {
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
}
