#!/usr/bin/env node
// attnlab-kernel install [--user | --prefix P] | uninstall [--user | --prefix P] | run <connection_file>
import { NodeKernel, installKernelspec, uninstallKernelspec } from '../dist/src/index.js';

const [cmd, ...rest] = process.argv.slice(2);
const opts = { user: rest.includes('--user'), prefix: rest.includes('--prefix') ? rest[rest.indexOf('--prefix') + 1] : undefined };
if (cmd === 'install') console.log(`installed kernelspec 'attnlab' in ${installKernelspec(opts)}`);
else if (cmd === 'uninstall') console.log(`removed ${uninstallKernelspec(opts)}`);
else if (cmd === 'run' && rest[0]) await NodeKernel.fromFile(rest[0]).start();
else {
  console.error('usage: attnlab-kernel install [--user | --prefix P] | uninstall [--user | --prefix P] | run <connection_file>');
  process.exit(2);
}
