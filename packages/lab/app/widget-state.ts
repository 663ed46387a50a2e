/**
 * Two fixes to @jupyter-widgets/jupyterlab-manager 5.0's handling of widget state saved in a
 * notebook (applied to its prototypes once, before any notebook opens):
 *
 * - Restoring saved widgets marked the notebook modified: `register_model` calls `setDirty()`
 *   for every model, including the ones read back from the notebook's own metadata after a
 *   reload, so an untouched notebook turned "unsaved" a few seconds after opening (once the
 *   kernel session was ready) and closing it asked to save. Only a model with a live kernel comm
 *   that the kernel made while the page watched is a change now (not one read back from the notebook,
 *   nor from a live kernel the page reconnects to).
 * - Saving dropped disconnected widgets: `get_state_sync` kept only models with a live comm, so
 *   saving a reloaded notebook before re-running it wrote no state for its widgets, and the next
 *   reload showed "model not found". Every registered model is saved now (the upstream fix,
 *   jupyter-widgets/ipywidgets PR 4015).
 */
import { LabWidgetManager, WidgetManager } from '@jupyter-widgets/jupyterlab-manager';

type Model = { comm_live: boolean };
type Manager = { setDirty(): void; _modelsSync: Map<string, Model>; _kernelRestoreInProgress?: boolean };

let patched = false;

export function patchWidgetStatePersistence(): void {
  if (patched) return;
  patched = true;
  const lab = LabWidgetManager.prototype as unknown as { register_model(id: string, p: Promise<Model>): void; get_state_sync(o?: object): unknown };
  const nb = WidgetManager.prototype as unknown as { register_model(id: string, p: Promise<Model>): void; get_state_sync(o?: object): unknown };

  nb.register_model = function (this: Manager, id: string, promise: Promise<Model>): void {
    // Models a reconnecting page reads back from a live kernel are a restore too, not an edit.
    const restoring = this._kernelRestoreInProgress === true;
    lab.register_model.call(this, id, promise); // the base behaviour, without the unconditional setDirty
    promise.then((m) => m.comm_live && !restoring && this.setDirty(), () => undefined);
  };

  const getStateSync = lab.get_state_sync;
  lab.get_state_sync = function (this: Manager, options?: object): unknown {
    // The original keeps models whose comm is live: hand it every model, each seen as live.
    const all = new Map([...this._modelsSync].map(([id, m]) => [id, new Proxy(m, { get: (t, p) => (p === 'comm_live' ? true : Reflect.get(t, p, t)) })]));
    return getStateSync.call({ ...this, _modelsSync: all }, options);
  };
}
