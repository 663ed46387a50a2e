// The rspack configuration of the lab app. Module federation shares JupyterLab's packages
// (versions and singletons from @jupyterlab/core-meta, the manifest `jupyter labextension`
// builds against) so prebuilt extensions get the app's own instances.
import { rspack } from '@rspack/core';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);

function sharedConfig(appDeps) {
  const core = JSON.parse(readFileSync(require.resolve('@jupyterlab/core-meta/core.package.json'), 'utf8'));
  // mock-socket is module state: the WebSocket a kernel manager connects with and the Server
  // JupyterLite's kernel client opens must come from one instance, across extensions too.
  const singletons = new Set([...core.jupyterlab.singletonPackages, '@jupyterlite/services', '@jupyterlite/application', '@jupyter-widgets/base', '@jupyter-widgets/controls', '@jupyter-widgets/output', 'mock-socket']);
  const names = new Set([...Object.keys(core.resolutions), ...Object.keys(appDeps), ...singletons]);
  const shared = {};
  for (const name of names) {
    if (name.startsWith('@types/') || name === '@jupyterlab/core-meta') continue;
    let version;
    try {
      version = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
    } catch {
      continue; // not installed (a core package this app leaves out)
    }
    shared[name] = { requiredVersion: `^${version}`, version, singleton: singletons.has(name) };
  }
  return shared;
}

export function labConfig({ root, out, dev }) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return {
    mode: dev ? 'development' : 'production',
    context: root,
    entry: { main: './app/bootstrap.ts' },
    output: { path: join(out, 'static'), publicPath: 'auto', filename: '[name].[contenthash:8].js', chunkFilename: '[id].[contenthash:8].js', clean: true },
    devtool: dev ? 'source-map' : false,
    resolve: { extensions: ['.ts', '.js', '.mjs'], fullySpecified: false, fallback: { path: false, fs: false } },
    module: {
      rules: [
        { test: /\.ts$/, exclude: /node_modules/, loader: 'builtin:swc-loader', options: { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } }, type: 'javascript/auto' },
        { test: /\.raw\.css$/, type: 'asset/source' },
        { test: /(?<!\.raw)\.css$/, use: [require.resolve('style-loader'), require.resolve('css-loader')], type: 'javascript/auto' },
        { test: /\.(txt|md)$/, type: 'asset/source' },
        { test: /\.(jpg|png|gif|woff2?|ttf|eot)(\?v=\d+\.\d+\.\d+)?$/, type: 'asset/resource' },
        { test: /\.svg(\?v=\d+\.\d+\.\d+)?$/, issuer: /\.css$/, type: 'asset/inline' },
        { test: /\.svg(\?v=\d+\.\d+\.\d+)?$/, issuer: /\.[cm]?[jt]s$/, type: 'asset/source' },
        { test: /\.m?js$/, resolve: { fullySpecified: false } },
      ],
    },
    plugins: [
      new rspack.ProvidePlugin({ process: require.resolve('process/browser') }),
      new rspack.container.ModuleFederationPluginV1({ name: 'attnlab_lab', shared: sharedConfig(pkg.dependencies ?? {}) }),
    ],
    // Readable class names in errors and the console (the default minimizers, class names kept:
    // +32 KB; keeping function names too would add 850 KB to the 19.5 MB app).
    optimization: {
      minimizer: [
        new rspack.SwcJsMinimizerRspackPlugin({ minimizerOptions: { compress: { keep_classnames: true }, mangle: { keep_classnames: true } } }),
        new rspack.LightningCssMinimizerRspackPlugin(),
      ],
    },
    performance: { hints: false },
    ignoreWarnings: [/Critical dependency/, /Failed to parse source map/],
    stats: 'errors-warnings',
  };
}

export function runRspack(config) {
  return new Promise((resolve, reject) => {
    const compiler = rspack(config);
    compiler.run((err, stats) => {
      compiler.close(() => {});
      if (err) return reject(err);
      const info = stats.toJson({ all: false, errors: true, assets: true });
      if (stats.hasErrors()) return reject(new Error(info.errors.map((e) => e.message).join('\n')));
      resolve({ ms: stats.endTime - stats.startTime, bytes: info.assets.reduce((s, a) => s + a.size, 0), files: info.assets.length });
    });
  });
}
