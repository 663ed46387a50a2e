import type { KernelSpec } from '@jupyterlab/services';

export const KERNEL_NAME = 'attnlab';

export const LANGUAGE_INFO = {
  name: 'typescript',
  version: '5.9',
  mimetype: 'text/typescript',
  file_extension: '.ts',
  codemirror_mode: 'typescript',
  pygments_lexer: 'typescript',
};

// The logo travels inside the spec as a data URL: no extra request, works in any host.
const LOGO = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="10" fill="#3178c6"/><g fill="none" stroke="#fff" stroke-width="3"><circle cx="16" cy="20" r="5"/><circle cx="16" cy="44" r="5"/><circle cx="48" cy="32" r="5"/><path d="M21 21 43 30M21 43l22-9" stroke-opacity=".8"/></g><text x="32" y="60" font-family="sans-serif" font-size="12" font-weight="700" fill="#fff" text-anchor="middle">TS</text></svg>`;
export const LOGO_URL = `data:image/svg+xml;base64,${btoa(LOGO)}`;

export const KERNEL_SPEC: KernelSpec.ISpecModel = {
  name: KERNEL_NAME,
  display_name: 'TypeScript (attnlab)',
  language: 'typescript',
  argv: [],
  resources: { 'logo-32x32': LOGO_URL, 'logo-64x64': LOGO_URL, 'logo-svg': LOGO_URL },
  metadata: { attnlab: { host: 'browser-worker' } },
};
