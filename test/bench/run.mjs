#!/usr/bin/env node
// Benchmark harness: `node test/bench/run.mjs [suite ...]` runs test/bench/suites/<suite>.mjs
// (all when none is named). Each suite exports `async function run()` returning records; every
// record names the adapter (device) it ran on. Results go to test/bench/results/<suite>.json.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const suitesDir = join(here, 'suites');
const resultsDir = join(here, 'results');
const all = readdirSync(suitesDir).filter((f) => f.endsWith('.mjs')).map((f) => f.slice(0, -4)).sort();
const asked = process.argv.slice(2);
const unknown = asked.filter((s) => !all.includes(s));
if (unknown.length) {
  console.error(`bench: unknown suite(s) ${unknown.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}
if (!existsSync(resultsDir)) mkdirSync(resultsDir, { recursive: true });

let failed = false;
for (const suite of asked.length ? asked : all) {
  console.log(`\n== bench ${suite}`);
  const t0 = performance.now();
  try {
    const mod = await import(pathToFileURL(join(suitesDir, `${suite}.mjs`)).href);
    const records = await mod.run();
    for (const r of records) {
      if (typeof r.adapter !== 'string') throw new Error(`record ${JSON.stringify(r)} has no adapter`);
    }
    const out = {
      suite,
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, platform: process.platform },
      seconds: +((performance.now() - t0) / 1000).toFixed(1),
      records,
    };
    writeFileSync(join(resultsDir, `${suite}.json`), JSON.stringify(out, null, 2) + '\n');
    console.table(records);
    console.log(`wrote test/bench/results/${suite}.json`);
  } catch (e) {
    failed = true;
    console.error(`bench ${suite} failed: ${e.stack ?? e}`);
  }
}
process.exit(failed ? 1 : 0);
