// The one list of packages a notebook cell can import by name in the browser kernel. A workspace
// package is on it when its package.json says so:
//
//     "attnlab": { "importable": true }
//
// bundle.mjs turns the list into the worker's module table (one lazily loaded chunk each) and
// types.mjs ships each package's .d.ts files for completion, so a new package needs no edit in
// this host. Packages outside the workspaces (a throwaway one in a test, your own package beside
// a checkout) are added with ATTNLAB_EXTRA_PACKAGES=dir1:dir2 or `--package dir` on either script.
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../..', import.meta.url));

/** The workspace folders the root package.json's `workspaces` names ('dir/*' and plain paths). */
function workspaceDirs(repo) {
  const root = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  const globs = Array.isArray(root.workspaces) ? root.workspaces : (root.workspaces?.packages ?? []);
  const dirs = [];
  for (const g of globs) {
    if (g.endsWith('/*')) {
      const base = join(repo, g.slice(0, -2));
      if (!existsSync(base)) continue;
      for (const name of readdirSync(base).sort()) {
        const d = join(base, name);
        if (statSync(d).isDirectory() && existsSync(join(d, 'package.json'))) dirs.push(d);
      }
    } else if (!g.includes('*')) dirs.push(join(repo, g));
    else throw new Error(`manifest: workspace pattern '${g}' is not supported (use 'dir/*' or a path)`);
  }
  return dirs;
}

/** `--package dir` arguments and ATTNLAB_EXTRA_PACKAGES. */
export function extraDirs(argv = process.argv.slice(2), env = process.env) {
  const dirs = (env.ATTNLAB_EXTRA_PACKAGES ?? '').split(delimiter).filter(Boolean);
  for (let i = 0; i < argv.length; i++) if (argv[i] === '--package' && argv[i + 1]) dirs.push(argv[++i]);
  return dirs.map((d) => resolve(d));
}

/** `--out dir` (default: kernels/browser/bundle). */
export function outDir(argv = process.argv.slice(2)) {
  const i = argv.indexOf('--out');
  return i >= 0 && argv[i + 1] ? resolve(argv[i + 1]) : fileURLToPath(new URL('../bundle', import.meta.url));
}

/**
 * Importable packages: { name, dir, manifest }, workspaces first (in folder order), then extras.
 * An extra folder must be importable too: naming one that is not is a mistake, said so.
 */
export function importablePackages({ repo = REPO, extra = extraDirs() } = {}) {
  const found = new Map();
  const add = (dir, required) => {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) throw new Error(`manifest: ${dir} has no package.json`);
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    if (manifest.attnlab?.importable !== true) {
      if (required) throw new Error(`manifest: ${file} lacks "attnlab": { "importable": true }`);
      return;
    }
    if (typeof manifest.name !== 'string') throw new Error(`manifest: ${file} has no name`);
    const prev = found.get(manifest.name);
    if (prev && prev.dir !== realpathSync(dir)) throw new Error(`manifest: ${manifest.name} is in both ${prev.dir} and ${dir}`);
    found.set(manifest.name, { name: manifest.name, dir: realpathSync(dir), manifest });
  };
  for (const d of workspaceDirs(repo)) add(d, false);
  for (const d of extra) add(d, true);
  return [...found.values()];
}
