import type { KernelSpec } from '@jupyterlab/services';
import { LOGO_SVG } from '@attnlab/kernel/logo';
import { DISPLAY_NAME, KERNEL_NAME, LANGUAGE_INFO } from '@attnlab/kernel/kernel-info';

export { KERNEL_NAME, LANGUAGE_INFO };

// The logo (shared with the Node kernelspec) travels inside the spec as a data URL: no extra
// request, works in any host.
export const LOGO_URL = `data:image/svg+xml;base64,${btoa(LOGO_SVG)}`;

export const KERNEL_SPEC: KernelSpec.ISpecModel = {
  name: KERNEL_NAME,
  display_name: DISPLAY_NAME,
  language: 'typescript',
  argv: [],
  resources: { 'logo-32x32': LOGO_URL, 'logo-64x64': LOGO_URL, 'logo-svg': LOGO_URL },
  metadata: { attnlab: { host: 'browser-worker' } },
};

/** The in-browser kernel's name inside a server-based JupyterLab, where `attnlab` is the Node kernel's. */
export const BROWSER_KERNEL_NAME = `${KERNEL_NAME}-browser`;

/** The spec to register: `attnlab` in JupyterLite, `attnlab-browser` beside a server's kernels. */
export function browserSpec(hybrid: boolean): KernelSpec.ISpecModel {
  return hybrid ? { ...KERNEL_SPEC, name: BROWSER_KERNEL_NAME, display_name: `${DISPLAY_NAME} in browser` } : KERNEL_SPEC;
}
