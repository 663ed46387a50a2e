import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOGO_SVG } from '@attnlab/kernel/logo';
import { DISPLAY_NAME, KERNEL_NAME } from '@attnlab/kernel/kernel-info';
import { logoPng } from './logo-png.js';

export { KERNEL_NAME };

/**
 * The user's Jupyter data directory, as jupyter_core's jupyter_data_dir() finds it:
 * JUPYTER_DATA_DIR, else the platform's place (XDG_DATA_HOME/jupyter or ~/.local/share/jupyter
 * on Linux, ~/Library/Jupyter on macOS, %APPDATA%/jupyter on Windows).
 */
export function jupyterDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['JUPYTER_DATA_DIR']) return env['JUPYTER_DATA_DIR'];
  const home = env['HOME'] || homedir();
  if (process.platform === 'darwin') return join(home, 'Library', 'Jupyter');
  if (process.platform === 'win32') return join(env['APPDATA'] || join(home, 'AppData', 'Roaming'), 'jupyter');
  return join(env['XDG_DATA_HOME'] || join(home, '.local', 'share'), 'jupyter');
}

/** Where `attnlab-kernel install` writes: --prefix P, --user (the Jupyter data directory), or the system prefix. */
export function kernelspecDir(opts: { user?: boolean; prefix?: string }): string {
  const base = opts.prefix ? join(opts.prefix, 'share', 'jupyter') : opts.user ? jupyterDataDir() : '/usr/local/share/jupyter';
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
