#!/usr/bin/env node
// `npm start`: builds what is stale, then serves the lab on 127.0.0.1 and prints its URL.
// "Stale" = any source, package manifest or example newer than the built lab's index.html.
// Extra arguments go to `attnlab serve` (for example: npm start -- --port 9000).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = join(root, 'packages/lab/build/index.html');

function newest(dir, skip = new Set(['node_modules', 'dist', 'build', 'labextension', 'bundle', 'scratch'])) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const name of readdirSync(dir)) {
    if (skip.has(name) || name.startsWith('.')) continue;
    const p = join(dir, name);
    const st = statSync(p);
    t = Math.max(t, st.isDirectory() ? newest(p, skip) : st.mtimeMs);
  }
  return t;
}

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const sources = Math.max(newest(join(root, 'packages')), newest(join(root, 'kernels')), newest(join(root, 'examples')));
if (sources > built) {
  console.log(built ? 'attnlab: sources changed since the last build; rebuilding' : 'attnlab: first start; building the packages and the lab (about a minute)');
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const { main } = await import('../packages/lab/dist/src/cli.js');
try {
  await main(['serve', ...process.argv.slice(2)]);
} catch (e) {
  console.error(`attnlab: ${e.message}`);
  process.exit(2);
}
