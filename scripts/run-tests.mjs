#!/usr/bin/env node
// Runs every test: the compiled node:test files of each package (dist/test/**/*.test.js) and
// root-level integration tests (test/**/*.test.mjs), one file at a time so WebGPU (SwiftShader)
// and browser tests do not fight over the two cores. Extra arguments filter files by substring.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2);

function walk(dir, match, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, match, out);
    else if (match(name)) out.push(p);
  }
  return out;
}

const files = [];
for (const group of ['packages', 'kernels']) {
  const base = join(root, group);
  if (!existsSync(base)) continue;
  for (const pkg of readdirSync(base).sort()) {
    walk(join(base, pkg, 'dist', 'test'), (n) => n.endsWith('.test.js'), files);
  }
}
walk(join(root, 'test'), (n) => n.endsWith('.test.mjs'), files);

const selected = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (selected.length === 0) {
  console.error('run-tests: no test files found (did the build run?)');
  process.exit(1);
}
console.log(`run-tests: ${selected.length} files\n${selected.map((f) => '  ' + relative(root, f)).join('\n')}`);
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...selected], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
