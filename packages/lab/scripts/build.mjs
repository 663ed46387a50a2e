#!/usr/bin/env node
// Builds the lab into packages/lab/build/: the app bundle (rspack), the prebuilt extensions of
// this repository, settings schemas, themes, translations, examples/ as read-only contents and
// index.html. `attnlab serve` serves that folder.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { labConfig, runRspack } from './rspack-config.mjs';
import { writeContents, writeIndexHtml, writeSettings, writeThemes, writeTranslations } from './site.mjs';
import { findExtensions, federatedEntry, copyExtensions } from '../dist/src/extensions.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const repo = join(root, '..', '..');
const out = join(root, 'build');
const dev = process.env.ATTNLAB_DEV === '1';
const only = process.argv.includes('--site-only');
const t0 = Date.now();

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
if (!only) {
  const r = await runRspack(labConfig({ root, out, dev }));
  console.log(`lab: app bundle ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB, rspack ${r.ms} ms`);
}
const mainScript = readdirSync(join(out, 'static')).find((f) => /^main\.[0-9a-f]+\.js$/.test(f));
if (!mainScript) throw new Error('lab build: no main.*.js in build/static (run the full build)');

const extensions = findExtensions();
copyExtensions(extensions, join(out, 'extensions'));
const federated = extensions.map(federatedEntry);
const plugins = Object.keys(pkg.dependencies).filter((d) => d.endsWith('-extension') || d === '@jupyter-widgets/jupyterlab-manager');
const settings = writeSettings(out, plugins, extensions);
writeThemes(out);
writeTranslations(out);
const files = writeContents(out, join(repo, 'examples'));
writeIndexHtml(out, { federated, mainScript });
console.log(`lab: ${extensions.length} prebuilt extensions (${extensions.map((e) => e.name).join(', ')}), ${settings.core}+${settings.federated} settings schemas, ${files} example files; ${Date.now() - t0} ms`);
