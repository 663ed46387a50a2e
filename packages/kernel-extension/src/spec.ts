import type { KernelSpec } from '@jupyterlab/services';
import { LOGO_SVG } from '@attnlab/kernel/logo';

export const KERNEL_NAME = 'attnlab';

export const LANGUAGE_INFO = {
  name: 'typescript',
  version: '5.9',
  mimetype: 'text/typescript',
  file_extension: '.ts',
  codemirror_mode: 'typescript',
  pygments_lexer: 'typescript',
};

// The logo (shared with the Node kernelspec) travels inside the spec as a data URL: no extra
// request, works in any host.
export const LOGO_URL = `data:image/svg+xml;base64,${btoa(LOGO_SVG)}`;

export const KERNEL_SPEC: KernelSpec.ISpecModel = {
  name: KERNEL_NAME,
  display_name: 'TypeScript (attnlab)',
  language: 'typescript',
  argv: [],
  resources: { 'logo-32x32': LOGO_URL, 'logo-64x64': LOGO_URL, 'logo-svg': LOGO_URL },
  metadata: { attnlab: { host: 'browser-worker' } },
};
