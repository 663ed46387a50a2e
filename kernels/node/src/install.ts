import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOGO_SVG } from '@attnlab/kernel/logo';
import { DISPLAY_NAME, KERNEL_NAME } from '@attnlab/kernel/kernel-info';
import { logoPng } from './logo-png.js';

export { KERNEL_NAME };

/** Where `attnlab-kernel install` writes: --prefix P, --user, or the system prefix. */
export function kernelspecDir(opts: { user?: boolean; prefix?: string }): string {
  const base = opts.prefix ? join(opts.prefix, 'share', 'jupyter') : opts.user ? join(homedir(), '.local', 'share', 'jupyter') : '/usr/local/share/jupyter';
  return join(base, 'kernels', KERNEL_NAME);
}

export function installKernelspec(opts: { user?: boolean; prefix?: string }): string {
  const dir = kernelspecDir(opts);
  mkdirSync(dir, { recursive: true });
  const bin = fileURLToPath(new URL('../../bin/attnlab-kernel.mjs', import.meta.url));
  writeFileSync(join(dir, 'kernel.json'), JSON.stringify({
    argv: [process.execPath, bin, 'run', '{connection_file}'],
    display_name: DISPLAY_NAME,
    language: 'typescript',
    interrupt_mode: 'message',
    metadata: { debugger: false },
  }, null, 2));
  writeFileSync(join(dir, 'logo-32x32.png'), logoPng(32));
  writeFileSync(join(dir, 'logo-64x64.png'), logoPng(64));
  writeFileSync(join(dir, 'logo-svg.svg'), LOGO_SVG);
  return dir;
}

export function uninstallKernelspec(opts: { user?: boolean; prefix?: string }): string {
  const dir = kernelspecDir(opts);
  rmSync(dir, { recursive: true, force: true });
  return dir;
}
