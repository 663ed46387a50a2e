#!/usr/bin/env node
// Bundles the kernel worker (dist/src/worker.js, from tsc) with rspack into bundle/: one entry,
// and a lazily loaded chunk per @attnlab package, so the lab can start the worker from a URL.
// TypeScript (the cell compiler) is bundled too; its Node-only requires are guarded at run time.
import { rspack } from '@rspack/core';
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';

const here = fileURLToPath(new URL('..', import.meta.url));
const dev = process.env.ATTNLAB_DEV === '1';
rmSync(`${here}/bundle`, { recursive: true, force: true });

const nodeOnly = ['fs', 'path', 'os', 'crypto', 'inspector', 'perf_hooks', 'source-map-support', 'child_process', 'module', 'url', 'buffer', 'stream', 'util', 'worker_threads'];
const alias = Object.fromEntries(nodeOnly.flatMap((m) => [[m, false], [`node:${m}`, false]]));

const compiler = rspack({
  mode: dev ? 'development' : 'production',
  target: 'webworker',
  context: here,
  entry: { 'attnlab-kernel-worker': './dist/src/worker.js' },
  output: {
    path: `${here}/bundle`,
    filename: '[name].js',
    chunkFilename: 'chunks/[name].[contenthash:8].js',
    publicPath: 'auto',
    chunkLoading: 'import-scripts',
    clean: true,
  },
  resolve: { alias, fullySpecified: false },
  devtool: dev ? 'source-map' : false,
  performance: { hints: false },
  // Keep class and function names: %who, errors and displays say `Transformer`, not `B`.
  optimization: { splitChunks: false, minimizer: [new rspack.SwcJsMinimizerRspackPlugin({ minimizerOptions: { compress: { keep_classnames: true, keep_fnames: true }, mangle: { keep_classnames: true, keep_fnames: true } } })] },
  // `node:` imports sit behind run-time checks for Node; strip the scheme so the aliases to `false` apply.
  plugins: [new rspack.NormalModuleReplacementPlugin(/^node:/, (r) => { r.request = r.request.slice(5); })],
  ignoreWarnings: [/Critical dependency/],
});

compiler.run((err, stats) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  const info = stats.toJson({ all: false, assets: true, errors: true, warnings: true });
  if (stats.hasErrors()) {
    for (const e of info.errors ?? []) console.error(e.message);
    process.exit(1);
  }
  const total = (info.assets ?? []).reduce((s, a) => s + a.size, 0);
  console.log(`kernel-browser: bundled ${info.assets?.length} files, ${(total / 1e6).toFixed(1)} MB, in ${stats.endTime - stats.startTime} ms`);
  compiler.close(() => {});
});
