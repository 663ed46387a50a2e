// The licence: BSD-3-Clause at the root and in every package.json; the notices of what the lab
// bundles list exactly the packages installed now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));

test('LICENSE is BSD-3-Clause and every package.json says so', () => {
  const text = readFileSync(join(root, 'LICENSE'), 'utf8');
  assert.match(text, /^BSD 3-Clause License\n\nCopyright \(c\) 2026, attnlab contributors/);
  const manifests = ['package.json', ...['packages', 'kernels'].flatMap((d) => readdirSync(join(root, d)).map((p) => join(d, p, 'package.json')).filter((p) => existsSync(join(root, p))))];
  assert.ok(manifests.length >= 13, manifests.join(', '));
  for (const m of manifests) assert.equal(JSON.parse(readFileSync(join(root, m), 'utf8')).license, 'BSD-3-Clause', m);
});

test('THIRD-PARTY-NOTICES.md lists the bundled packages as installed now (plotly.js, JupyterLab, JupyterLite among them)', () => {
  const r = spawnSync(process.execPath, [join(root, 'packages/lab/scripts/third-party.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const notices = readFileSync(join(root, 'THIRD-PARTY-NOTICES.md'), 'utf8');
  assert.match(notices, /\| MIT \(\d+\) \|[^\n]*plotly\.js-dist-min /);
  assert.match(notices, /\| BSD-3-Clause \(\d+\) \|[^\n]*@jupyterlab\/application /);
  assert.match(notices, /\| BSD-3-Clause \(\d+\) \|[^\n]*@jupyterlite\/services /);
});
