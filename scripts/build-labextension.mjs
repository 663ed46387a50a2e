#!/usr/bin/env node
// Builds the JupyterLab extension in the current directory (or argv[2]) as a prebuilt
// (federated) extension, without Python: @jupyterlab/builder needs a "core path", a folder whose
// package.json is JupyterLab's core manifest, which @jupyterlab/core-meta ships.
// Output goes to the package's `jupyterlab.outputDir` (labextension/).
import { spawnSync } from 'node:child_process';
import { mkdirSync, copyFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const require = createRequire(import.meta.url);
const ext = resolve(process.argv[2] ?? '.');
const coreManifest = require.resolve('@jupyterlab/core-meta/core.package.json');
const coreDir = resolve(dirname(new URL(import.meta.url).pathname), '..', 'node_modules', '.cache', 'attnlab-core');
mkdirSync(coreDir, { recursive: true });
copyFileSync(coreManifest, join(coreDir, 'package.json'));
const builder = require.resolve('@jupyterlab/builder/lib/build-labextension.js');
if (!existsSync(join(ext, 'package.json'))) throw new Error(`build-labextension: no package.json in ${ext}`);
const dev = process.env.ATTNLAB_DEV_EXT === '1' ? ['--development'] : [];
const r = spawnSync(process.execPath, [builder, '--core-path', coreDir, ...dev, ext], { stdio: 'inherit' });
process.exit(r.status ?? 1);
