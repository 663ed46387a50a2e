import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './serve.js';
import { installIntoPrefix } from './extensions.js';

const USAGE = `attnlab — the attnlab lab and kernel

  attnlab serve [--port N] [--dir BUILD]     serve the built lab on 127.0.0.1 (default port 8888)
  attnlab install-extensions --prefix P      copy the prebuilt extensions into P/share/jupyter/labextensions
  attnlab kernel install [--user | --prefix P]   install the Node kernelspec (TypeScript (attnlab))
  attnlab kernel uninstall [--user | --prefix P]
`;

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

export const DEFAULT_BUILD = fileURLToPath(new URL('../../build', import.meta.url));

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case 'serve': {
      const portText = flag(args, '--port') ?? '8888';
      const port = Number(portText);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be an integer 0-65535, got '${portText}'`);
      const { url } = await serve({ root: resolve(flag(args, '--dir') ?? DEFAULT_BUILD), port });
      console.log(`attnlab: the lab is at ${url}  (Ctrl+C stops it)`);
      return -1; // keep running
    }
    case 'install-extensions': {
      const prefix = flag(args, '--prefix');
      if (!prefix) throw new Error('install-extensions needs --prefix P (for example: --prefix "$(python3 -c \'import sys; print(sys.prefix)\')")');
      const { target, installed } = installIntoPrefix(resolve(prefix));
      console.log(`attnlab: installed ${installed.join(', ')} into ${target}`);
      return 0;
    }
    case 'kernel': {
      const [sub, ...rest] = args;
      const prefix = flag(rest, '--prefix');
      const opts = { user: rest.includes('--user'), ...(prefix ? { prefix: resolve(prefix) } : {}) };
      const { installKernelspec, uninstallKernelspec } = await import('@attnlab/kernel-node');
      if (sub === 'install') console.log(`attnlab: installed kernelspec 'attnlab' in ${installKernelspec(opts)}`);
      else if (sub === 'uninstall') console.log(`attnlab: removed ${uninstallKernelspec(opts)}`);
      else throw new Error(`kernel: expected install or uninstall, got '${sub ?? ''}'`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return 0;
    default:
      throw new Error(`unknown command '${cmd}'\n${USAGE}`);
  }
}
