// The static files a Jupyter server would otherwise answer: settings schemas, themes,
// translations, the contents index of examples/, the prebuilt extensions and index.html.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';

const require = createRequire(import.meta.url);
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const writeJson = (p, v) => {
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, JSON.stringify(v));
};

function schemaEntries(pkgName, dir, version) {
  if (!existsSync(dir)) return []; // some packages declare a schemaDir they do not ship
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ id: `${pkgName}:${basename(f, '.json')}`, raw: '{}', schema: readJson(join(dir, f)), settings: {}, version }));
}

/** Settings schemas of the bundled plugins (all.json) and of the prebuilt extensions (all_federated.json). */
export function writeSettings(out, corePackages, extensions) {
  const core = [];
  for (const name of corePackages) {
    const pkgPath = require.resolve(`${name}/package.json`);
    const pkg = readJson(pkgPath);
    const schemaDir = pkg.jupyterlab?.schemaDir;
    if (schemaDir) core.push(...schemaEntries(name, join(dirname(pkgPath), schemaDir), pkg.version));
  }
  const federated = extensions.flatMap((e) => schemaEntries(e.name, join(e.dir, 'schemas', e.name), e.version));
  writeJson(join(out, 'api/settings/all.json'), core);
  writeJson(join(out, 'api/settings/all_federated.json'), federated);
  return { core: core.length, federated: federated.length };
}

export function writeThemes(out) {
  for (const theme of ['theme-light-extension', 'theme-dark-extension']) {
    const dir = join(dirname(require.resolve(`@jupyterlab/${theme}/package.json`)), 'style');
    const css = ['variables.css', 'theme.css']
      .map((f) => readFileSync(join(dir, f), 'utf8').replace(/@import\s+['"]\.\/variables\.css['"];?/g, ''))
      .join('\n');
    mkdirSync(join(out, 'themes/@jupyterlab', theme), { recursive: true });
    writeFileSync(join(out, 'themes/@jupyterlab', theme, 'index.css'), css);
  }
}

export function writeTranslations(out) {
  // The language-server extension asks for this; there are no language servers in the browser.
  writeJson(join(out, 'lsp/status'), { version: 2, sessions: {}, specs: {} });
  writeJson(join(out, 'api/translations/all.json'), { data: { en: { displayName: 'English', nativeName: 'English' } }, message: '' });
  writeJson(join(out, 'api/translations/en.json'), { data: {}, message: '' });
}

function contentModel(abs, path) {
  const st = statSync(abs);
  const name = basename(path);
  const isDir = st.isDirectory();
  const type = isDir ? 'directory' : name.endsWith('.ipynb') ? 'notebook' : 'file';
  const mimetype = isDir ? null : type === 'notebook' ? 'application/x-ipynb+json' : /\.(json)$/.test(name) ? 'application/json' : /\.(md|txt|ts|js|py|csv)$/.test(name) ? 'text/plain' : 'application/octet-stream';
  const format = isDir ? 'json' : type === 'notebook' ? 'json' : mimetype === 'application/octet-stream' ? 'base64' : 'text';
  const time = st.mtime.toISOString();
  return { name, path, type, mimetype, format, size: isDir ? null : st.size, writable: true, created: time, last_modified: time, content: null };
}

/** Copies `examples/` to files/examples and writes the api/contents/<dir>/all.json listings JupyterLite reads. */
export function writeContents(out, examplesDir) {
  rmSync(join(out, 'files'), { recursive: true, force: true });
  rmSync(join(out, 'api/contents'), { recursive: true, force: true });
  let count = 0;
  const walk = (abs, path) => {
    const entries = readdirSync(abs).filter((n) => !n.startsWith('.') && n !== 'node_modules').sort();
    const listing = entries.map((n) => contentModel(join(abs, n), path ? `${path}/${n}` : n));
    writeJson(join(out, 'api/contents', path, 'all.json'), { ...contentModel(abs, path), name: basename(path), path, content: listing });
    for (const n of entries) {
      const a = join(abs, n);
      const p = path ? `${path}/${n}` : n;
      if (statSync(a).isDirectory()) walk(a, p);
      else {
        mkdirSync(dirname(join(out, 'files', p)), { recursive: true });
        cpSync(a, join(out, 'files', p));
        count++;
      }
    }
  };
  writeJson(join(out, 'api/contents/all.json'), { ...contentModel(examplesDir, ''), name: '', path: '', content: [contentModel(examplesDir, 'examples')] });
  walk(examplesDir, 'examples');
  return count;
}

export function writeIndexHtml(out, { federated, mainScript }) {
  const config = {
    appName: 'attnlab',
    appVersion: '0.1.0',
    baseUrl: '/',
    appUrl: '/lab',
    fullStaticUrl: '/static',
    settingsUrl: '/api/settings',
    themesUrl: '/themes',
    labextensionsUrl: 'extensions',
    fullLabextensionsUrl: '/extensions',
    federated_extensions: federated,
    contentsAllJsonFile: 'all.json',
    defaultKernelName: 'attnlab',
    exposeAppInBrowser: true,
    disabledExtensions: [],
    notebookStartsKernel: true,
    settingsOverrides: {
      // Widget state is saved into the notebook so widgets come back after a reload.
      '@jupyter-widgets/jupyterlab-manager:plugin': { saveState: true },
      // attnlab is the only kernel: a notebook without kernel metadata (a fresh Untitled one
      // restored after a reload) starts it instead of asking in a dialog.
      '@jupyterlab/notebook-extension:tracker': { autoStartDefaultKernel: true },
    },
    treePath: '',
    workspace: 'default',
  };
  const html = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>attnlab</title>
  <link rel="icon" href="data:," />
  <script id="jupyter-config-data" type="application/json">${JSON.stringify(config).replace(/</g, '\\u003c')}</script>
</head>
<body class="jp-ThemedContainer">
  <script src="/static/${mainScript}"></script>
</body>
</html>
`;
  writeFileSync(join(out, 'index.html'), html);
  return config;
}

export { relative };
