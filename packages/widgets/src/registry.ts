import type { KernelContextLike } from './context.js';
import { split } from './buffers.js';
import type { WidgetModel } from './widget.js';

/** Widgets alive in this kernel, by model id. */
export const liveWidgets = new Map<string, WidgetModel>();

const registered = new WeakSet<object>();

/**
 * `jupyter.widget.control`: the front end (jupyterlab-manager) opens it when it connects and asks
 * for every widget's state at once, so widgets come back after a page reload.
 */
export function ensureControlTarget(ctx: KernelContextLike): void {
  if (registered.has(ctx.comms)) return;
  registered.add(ctx.comms);
  ctx.comms.registerTarget('jupyter.widget.control', (comm) => {
    comm.onMsg = (msg) => {
      if (msg.data['method'] !== 'request_states') throw new TypeError(`jupyter.widget.control: unknown method ${JSON.stringify(msg.data['method'])}`);
      const states: Record<string, unknown> = {};
      for (const [id, w] of liveWidgets) if (!w.closed) states[id] = w.fullState();
      const { state, buffers, paths } = split({ states });
      // buffer_paths are [model_id, ...path] by protocol: strip our leading 'states'.
      comm.send({ method: 'update_states', states: state['states'], buffer_paths: paths.map((p) => p.slice(1)) }, { buffers });
    };
  });
  // Front-end-created widgets are not supported: answer with a close rather than silence.
  ctx.comms.registerTarget('jupyter.widget', (comm) => comm.close({ error: 'attnlab widgets are created in the kernel' }));
}
