// Starts `attnlab serve` on a free port over the built lab (or another site folder) without the rebuild check that
// `npm start` makes, for e2e tests that run after the test runner's build. Resolves with the process and the URL.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './browser.mjs';
import { LabPage } from './lab-page.mjs';

const cli = fileURLToPath(new URL('../../packages/lab/bin/attnlab.mjs', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

/** @param {{ dir?: string }} [options] @returns {Promise<{ proc: import('node:child_process').ChildProcess, url: string }>} */
export function serveLab(options = {}) {
  const args = [cli, 'serve', ...(options.dir ? ['--dir', options.dir] : []), '--port', '0'];
  const proc = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((ok, fail) => {
    const onData = (d) => {
      log += d;
      const m = log.match(/the lab is at (http:\/\/127\.0\.0\.1:\d+\/lab)/);
      if (m) ok({ proc, url: m[1] });
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => fail(new Error(`attnlab serve exited (${code}):\n${log}`)));
  });
}

/**
 * Serves the built lab and opens it in headless Chromium at a 1400 x 900 viewport. Resolves with the LabPage and a
 * close() that ends the browser and the server (also when opening failed half-way).
 */
export async function openBuiltLab() {
  const { proc, url } = await serveLab();
  let browser;
  const close = async () => {
    await browser?.close();
    if (proc.exitCode === null) proc.kill('SIGTERM');
  };
  try {
    browser = await launchChromium();
    const lab = new LabPage(await browser.newPage({ viewport: { width: 1400, height: 900 } }), url);
    await lab.open();
    return { lab, close };
  } catch (e) {
    await close();
    throw e;
  }
}
