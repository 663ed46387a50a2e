// Bench suite for the lab in Debian's chromium (headless; WebGPU on SwiftShader without a GPU):
// page load to a ready app (cold: empty cache; warm: second load), new notebook to an idle
// kernel (worker start), the first cell, and `1+1` round trips through the in-browser kernel.
import { serve } from '../../../packages/lab/dist/src/serve.js';
import { launchChromium } from '../../e2e/browser.mjs';
import { LabPage } from '../../e2e/lab-page.mjs';

const ms = (t0) => +(performance.now() - t0).toFixed(1);
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export async function run() {
  const s = await serve({ root: new URL('../../../packages/lab/build', import.meta.url).pathname, port: 0 });
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const lab = new LabPage(await context.newPage(), s.url);
    let t0 = performance.now();
    await lab.open();
    const coldLoad = ms(t0);
    t0 = performance.now();
    await lab.open();
    const warmLoad = ms(t0);
    t0 = performance.now();
    await lab.newNotebook();
    const kernelStart = ms(t0);
    t0 = performance.now();
    await lab.run('1+1');
    const firstCell = ms(t0);
    // Timed inside the page: a Playwright evaluate costs milliseconds of its own.
    const rounds = await lab.page.evaluate(async () => {
      const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
      const out = [];
      for (let i = 0; i < 50; i++) {
        const t = performance.now();
        await kernel.requestExecute({ code: '1+1' }).done;
        out.push(performance.now() - t);
      }
      return out.slice(10);
    });
    t0 = performance.now();
    await lab.run("const { getDevice } = await import('@attnlab/tensor');\n(await getDevice({ prefer: 'webgpu' })).adapter");
    const webgpuInit = ms(t0);
    const adapter = await lab.page.evaluate(() => {
      const nb = window.jupyterapp.shell.currentWidget.content;
      const outs = nb.widgets[nb.widgets.length - 2].model.outputs.toJSON();
      return String(outs[0]?.data?.['text/plain'] ?? 'unknown');
    });
    return [{
      adapter: `chromium page; worker WebGPU: ${adapter}`,
      coldLoadMs: coldLoad,
      warmLoadMs: warmLoad,
      newNotebookToIdleKernelMs: kernelStart,
      firstCellMs: firstCell,
      onePlusOneMedianMs: +median(rounds).toFixed(2),
      webgpuFirstDeviceMs: webgpuInit,
    }];
  } finally {
    await browser.close();
    s.server.close();
  }
}
