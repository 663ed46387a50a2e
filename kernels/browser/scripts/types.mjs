#!/usr/bin/env node
// The .d.ts files the browser kernel's language service reads (it has no file system): the
// TypeScript standard library for a worker (es2022 + webworker, following `/// <reference lib>`)
// and the declarations of every package a cell can import (the manifest's list, the same one the
// worker's module table comes from; plus WebGPU's types). Written to bundle/types/ (or
// --out DIR/types/) with an index the worker fetches on first use: /lib/<file> and
// /node_modules/<pkg>/<path> names.
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { importablePackages, outDir } from './manifest.mjs';

const require = createRequire(import.meta.url);
const out = join(outDir(), 'types');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const files = {};

const tsLib = dirname(require.resolve('typescript/lib/lib.d.ts'));
const seen = new Set();
const addLib = (name) => {
  if (seen.has(name)) return;
  seen.add(name);
  const text = readFileSync(join(tsLib, `lib.${name}.d.ts`), 'utf8');
  files[`/lib/lib.${name}.d.ts`] = text;
  for (const m of text.matchAll(/\/\/\/\s*<reference lib="([^"]+)"\s*\/>/g)) addLib(m[1]);
};
addLib('es2022');
addLib('webworker');

function walk(dir, base, pkg) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) walk(p, base, pkg);
    else if (name.endsWith('.d.ts')) files[`/node_modules/${pkg}/${relative(base, p)}`] = readFileSync(p, 'utf8');
  }
}

/** A package's folder, found the way Node looks (exports maps hide package.json from require.resolve). */
function packageRoot(pkg) {
  for (const base of require.resolve.paths(pkg) ?? []) if (existsSync(join(base, pkg, 'package.json'))) return realpathSync(join(base, pkg));
  throw new Error(`types: cannot find ${pkg}`);
}

// Types-only packages a cell sees without importing them.
const typesOnly = ['@webgpu/types'].map((name) => ({ name, dir: packageRoot(name) }));
for (const { name: pkg, dir: root } of [...importablePackages(), ...typesOnly]) {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  files[`/node_modules/${pkg}/package.json`] = JSON.stringify({ name: manifest.name, types: manifest.types, typings: manifest.typings, exports: manifest.exports });
  // Built declarations where the package has them, else whatever .d.ts it ships.
  const dist = [join(root, 'dist', 'src'), join(root, 'dist')].find((d) => existsSync(d)) ?? root;
  walk(dist, root, pkg);
}

const json = JSON.stringify(files);
writeFileSync(join(out, 'types.json'), json);
console.log(`kernel-browser: ${Object.keys(files).length} declaration files for completion (${(json.length / 1e6).toFixed(2)} MB) in bundle/types/types.json`);
