#!/usr/bin/env node
// The kernel's Web Worker is bundled on its own by @attnlab/kernel-browser (rspack, no module
// federation inside a worker); ship it as a static asset of this prebuilt extension.
import { cpSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const src = join(dirname(require.resolve('@attnlab/kernel-browser/package.json')), 'bundle');
if (!existsSync(join(src, 'attnlab-kernel-worker.js'))) throw new Error(`copy-worker: ${src} has no worker bundle; build @attnlab/kernel-browser first`);
cpSync(src, new URL('../labextension/static/worker', import.meta.url), { recursive: true });
console.log('kernel-extension: worker bundle copied into labextension/static/worker');
