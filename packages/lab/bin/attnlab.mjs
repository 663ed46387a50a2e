#!/usr/bin/env node
import { main } from '../dist/src/cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (e) => {
    console.error(`attnlab: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 2;
  },
);
