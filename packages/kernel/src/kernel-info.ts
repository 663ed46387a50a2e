/** What every attnlab host says about itself in kernel_info and kernelspecs. */
export const KERNEL_NAME = 'attnlab';
export const DISPLAY_NAME = 'TypeScript (attnlab)';

export const LANGUAGE_INFO = {
  name: 'typescript',
  version: '5.9',
  mimetype: 'text/typescript',
  file_extension: '.ts',
  codemirror_mode: 'typescript',
  pygments_lexer: 'typescript',
};
