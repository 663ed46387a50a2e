/// <reference types="node" />
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { moduleImporter } from '../src/modules.js';

interface Importable { name: string; dir: string }
type Manifest = { importablePackages(o?: { repo?: string; extra?: string[] }): Importable[] };
// The build script's module (plain .mjs beside the package, not compiled).
const manifestUrl = new URL('../../scripts/manifest.mjs', import.meta.url).href;
const { importablePackages } = (await import(manifestUrl)) as Manifest;

function pkg(dir: string, manifest: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest));
  return dir;
}

test("the repository's importable packages are the ones whose package.json says so", () => {
  const names = importablePackages({ extra: [] }).map((p) => p.name);
  for (const n of ['@attnlab/tensor', '@attnlab/attention', '@attnlab/models', '@attnlab/kernel', '@attnlab/plots', '@attnlab/widgets']) assert.ok(names.includes(n), `${n} in ${names}`);
  for (const n of ['@attnlab/kernel-extension', '@attnlab/lab', '@attnlab/kernel-browser', '@attnlab/kernel-node']) assert.ok(!names.includes(n), `${n} is not importable`);
});

test('a workspace root lists its own packages; extra folders join; a folder without the field is an error naming it', () => {
  const root = mkdtempSync(join(tmpdir(), 'attnlab-manifest-'));
  try {
    pkg(root, { name: 'root', private: true, workspaces: ['packages/*', 'tools/one'] });
    pkg(join(root, 'packages/a'), { name: 'a', attnlab: { importable: true } });
    pkg(join(root, 'packages/b'), { name: 'b' });
    pkg(join(root, 'tools/one'), { name: 'one', attnlab: { importable: true } });
    const extra = pkg(join(root, 'elsewhere/x'), { name: 'x', attnlab: { importable: true } });
    assert.deepEqual(importablePackages({ repo: root, extra: [extra] }).map((p) => p.name), ['a', 'one', 'x']);
    const plain = pkg(join(root, 'elsewhere/y'), { name: 'y' });
    assert.throws(() => importablePackages({ repo: root, extra: [plain] }), /elsewhere\/y\/package\.json lacks "attnlab": \{ "importable": true \}/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the worker imports what its table holds; anything else is refused with the list and how to add one', async () => {
  const load = moduleImporter({ 'pkg-a': async () => ({ a: 1 }) });
  assert.deepEqual(await load('pkg-a'), { a: 1 });
  await assert.rejects(load('pkg-b'), /Cannot import 'pkg-b' in the browser kernel: it bundles pkg-a .*"attnlab": \{ "importable": true \}/);
  await assert.rejects(load('toString'), /Cannot import 'toString'/, 'no prototype keys');
});
