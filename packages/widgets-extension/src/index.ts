/**
 * @attnlab/widgets-extension: registers the views of @attnlab/widgets' custom widgets
 * (HeadSteering, SweepResult, AttentionExplorer) with the Jupyter widgets manager.
 */
import type { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import { HeadSteeringModel, HeadSteeringView, MODULE, VERSION } from './head-steering-view.js';
import { AttentionExplorerModel, AttentionExplorerView } from './attention-explorer-view.js';
import { SweepResultModel, SweepResultView } from './sweep-result-view.js';

export { HeadSteeringModel, HeadSteeringView, AttentionExplorerModel, AttentionExplorerView, SweepResultModel, SweepResultView };

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@attnlab/widgets-extension:plugin',
  description: 'Head steering grid, sweep result and attention explorer views',
  autoStart: true,
  requires: [IJupyterWidgetRegistry],
  activate: (_app: unknown, registry: IJupyterWidgetRegistry) => {
    registry.registerWidget({
      name: MODULE,
      version: VERSION,
      exports: { HeadSteeringModel, HeadSteeringView, AttentionExplorerModel, AttentionExplorerView, SweepResultModel, SweepResultView },
    });
  },
};

export default plugin;
