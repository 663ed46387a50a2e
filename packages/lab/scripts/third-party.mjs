#!/usr/bin/env node
// Writes THIRD-PARTY-NOTICES.md: every npm package the lab site bundles (the lab app, the three
// prebuilt extensions and the kernel worker, which carries TypeScript), found by walking the
// runtime `dependencies` from node_modules, with the licence its package.json declares.
// Run after `npm install`: node packages/lab/scripts/third-party.mjs (--check: fail if the file is stale)
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const seeds = ['packages/lab', 'packages/plots-extension', 'packages/widgets-extension', 'packages/kernel-extension', 'kernels/browser'];

/** Node's lookup: node_modules folders from `from` up to the root. */
function resolvePkg(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const p = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(p)) return p;
    if (dir === dirname(dir) || !dir.startsWith(root.replace(/\/$/, ''))) return null;
  }
}

// Node-only: the Node kernel host (the lab CLI's dependency) and Dawn's binding are not in the site.
const notBundled = new Set(['@attnlab/kernel-node', 'zeromq', 'webgpu']);
// Packages whose package.json names no licence: the licence file in the package says.
const fromLicenseFile = { khroma: 'MIT', 'localforage-memoryStorageDriver': 'Apache-2.0' };

const found = new Map(); // name@version -> { name, version, license, homepage }
const seen = new Set();
function walk(pkgJson) {
  if (seen.has(pkgJson)) return;
  seen.add(pkgJson);
  const p = JSON.parse(readFileSync(pkgJson, 'utf8'));
  const dir = dirname(pkgJson);
  if (!p.name?.startsWith('@attnlab/')) {
    const license = fromLicenseFile[p.name] ?? (typeof p.license === 'string' ? p.license : p.license?.type ?? (Array.isArray(p.licenses) ? p.licenses.map((l) => l.type).join(' OR ') : 'UNKNOWN'));
    found.set(`${p.name}@${p.version}`, { name: p.name, version: p.version, license });
  }
  for (const dep of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) {
    if (notBundled.has(dep)) continue;
    const r = resolvePkg(dep, dir);
    if (r) walk(r);
  }
}
for (const s of seeds) walk(join(root, s, 'package.json'));
walk(resolvePkg('typescript', join(root, 'packages/kernel'))); // the kernel's cell compiler, bundled into the worker

const byLicense = new Map();
for (const e of found.values()) {
  if (!byLicense.has(e.license)) byLicense.set(e.license, []);
  byLicense.get(e.license).push(e);
}
const order = [...byLicense.keys()].sort((a, b) => byLicense.get(b).length - byLicense.get(a).length);
const lines = [
  '# Third-party notices',
  '',
  'attnlab itself is under the BSD-3-Clause licence (`LICENSE`). The lab site that `npm start` serves',
  'and `attnlab install-extensions` installs bundles the npm packages below. The main ones:',
  '',
  '- **plotly.js** (`plotly.js-dist-min`, MIT): the figure renderer in `@attnlab/plots-extension`;',
  '- **JupyterLab** (`@jupyterlab/*`, BSD-3-Clause) and **Lumino** (`@lumino/*`, BSD-3-Clause): the application;',
  '- **JupyterLite** (`@jupyterlite/*`, BSD-3-Clause): the in-browser services the kernel registers with;',
  '- **Jupyter widgets** (`@jupyter-widgets/*`, BSD-3-Clause): the widget manager and stock controls;',
  '- **TypeScript** (Apache-2.0): the cell compiler and language service inside the kernel worker;',
  '- **CodeMirror** (`@codemirror/*`, MIT), **MathJax** (Apache-2.0), **marked** (MIT) through JupyterLab.',
  '',
  'Each package\'s own licence text ships in its folder under `node_modules/`. This list is generated',
  'from the installed packages\' `package.json` by `node packages/lab/scripts/third-party.mjs` (the',
  'runtime dependency closure of the lab, the extensions and the kernel worker).',
  '',
  '| licence | packages |',
  '| --- | --- |',
  ...order.map((l) => `| ${l} (${byLicense.get(l).length}) | ${byLicense.get(l).map((e) => `${e.name} ${e.version}`).sort().join(', ')} |`),
  '',
];
const target = join(root, 'THIRD-PARTY-NOTICES.md');
if (process.argv.includes('--check')) {
  // For the tests: the file must list what is installed now.
  const current = existsSync(target) ? readFileSync(target, 'utf8') : '';
  if (current !== lines.join('\n')) {
    console.error('THIRD-PARTY-NOTICES.md is out of date: run node packages/lab/scripts/third-party.mjs');
    process.exit(1);
  }
  console.log(`THIRD-PARTY-NOTICES.md is current (${found.size} packages)`);
  process.exit(0);
}
writeFileSync(target, lines.join('\n'));
console.log(`THIRD-PARTY-NOTICES.md: ${found.size} packages, licences: ${order.map((l) => `${l} ${byLicense.get(l).length}`).join(', ')}`);
