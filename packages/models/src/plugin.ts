/**
 * @attnlab/models as a notebook plugin: adds `%scores`, which lists the registered head scores and
 * analyses. The registries themselves are published as the kernel's 'score' and 'analysis'
 * extension points when the package loads (scores-registry.ts), so any plugin's
 * ctx.registerScore / registerAnalysis lands there. No kernel import: the context is typed by the
 * one method used.
 */
import { getAnalysis, getScore, listAnalyses, listScores } from './scores-registry.js';

interface Context {
  registerMagic(name: string, magic: { help?: string; line(args: string, ctx: { print(text: string): void }): unknown }): unknown;
}

function listing(title: string, names: string[], describe: (name: string) => string | undefined): string {
  if (!names.length) return `${title}: none registered`;
  return `${title}:\n${names.map((n) => `  ${n}${describe(n) ? `  ${describe(n)}` : ''}`).join('\n')}`;
}

export const attnlabPlugin = {
  id: '@attnlab/models',
  activate(ctx: Context): void {
    ctx.registerMagic('scores', {
      help: 'the registered head scores and analyses (plugins add them)',
      line: (_args, m) => {
        m.print(`${listing('head scores', listScores(), (n) => getScore(n).description)}\n${listing('analyses', listAnalyses(), (n) => getAnalysis(n).description)}`);
      },
    });
  },
};
