import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { installKernelspec } from '../src/index.js';
import { python } from './python-suite.js';

/**
 * Every notebook under examples/ (papers/ included) runs headless (nbclient) through the installed kernelspec, one
 * test per notebook so a failure names it; no error output, and every plot output carries an image/svg+xml.
 * The paper notebooks' Claims cells throw when a criterion fails, so a claim that stops holding fails here.
 */
const root = fileURLToPath(new URL('../../../../', import.meta.url));
const script = fileURLToPath(new URL('../../test/python/run_notebooks.py', import.meta.url));
const prefix = mkdtempSync(join(tmpdir(), 'attnlab-nb-'));
installKernelspec({ prefix });
after(() => rmSync(prefix, { recursive: true, force: true }));

function notebooks(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (name === '.ipynb_checkpoints') continue;
    if (statSync(p).isDirectory()) notebooks(p, out);
    else if (name.endsWith('.ipynb')) out.push(p);
  }
  return out;
}

const paths = notebooks(join(root, 'examples'));
test('examples/ holds notebooks, paper notebooks among them', () => {
  assert.ok(paths.length >= 2, `notebooks found: ${paths.length}`);
});

let plotsTotal = 0;
for (const path of paths) {
  const name = relative(root, path);
  test(`${name} runs without an error output, every plot with a static SVG`, () => {
    const started = Date.now();
    const r = spawnSync(python, [script, root, path], {
      env: { ...process.env, JUPYTER_PATH: join(prefix, 'share', 'jupyter') },
      encoding: 'utf8',
      // Paper notebooks aim at 3 minutes on a 2-core machine; the limit leaves room for a loaded one.
      timeout: 420_000,
    });
    console.log(`${r.stdout.trim()} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    assert.equal(r.status, 0, `${name}: exit ${r.status} ${r.signal ?? ''}\n${r.stdout}\n${r.stderr}`);
    plotsTotal += Number(/plot outputs: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  });
}

test('the examples do plot', () => {
  assert.ok(plotsTotal >= 2, `plot outputs over all notebooks: ${plotsTotal}`);
});
