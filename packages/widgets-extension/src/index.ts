/**
 * @attnlab/widgets-extension: registers the views of @attnlab/widgets' custom widgets
 * (HeadSteering, AttentionExplorer) with the Jupyter widgets manager.
 */
import type { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import { HeadSteeringModel, HeadSteeringView, MODULE, VERSION } from './head-steering-view.js';
import { AttentionExplorerModel, AttentionExplorerView } from './attention-explorer-view.js';

export { HeadSteeringModel, HeadSteeringView, AttentionExplorerModel, AttentionExplorerView };

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@attnlab/widgets-extension:plugin',
  description: 'Head steering grid and attention explorer views',
  autoStart: true,
  requires: [IJupyterWidgetRegistry],
  activate: (_app: unknown, registry: IJupyterWidgetRegistry) => {
    registry.registerWidget({
      name: MODULE,
      version: VERSION,
      exports: { HeadSteeringModel, HeadSteeringView, AttentionExplorerModel, AttentionExplorerView },
    });
  },
};

export default plugin;
