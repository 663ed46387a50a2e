import type { DOMWidgetView } from '@jupyter-widgets/base';

/** What a disconnected widget says instead of pretending to work. */
export const DISCONNECTED_TEXT = 'disconnected from the kernel: run its cell again to use it';

/**
 * A view whose model has no live comm (restored from the saved notebook after a reload, or its
 * kernel restarted) is shown as disconnected and made inert: clicks would change nothing in the
 * kernel, so nothing may look as if it did.
 */
export function watchConnection(view: DOMWidgetView, controls: HTMLElement, notice: HTMLElement): void {
  const update = () => {
    const live = Boolean(view.model.comm_live);
    controls.inert = !live;
    view.el.classList.toggle('attnlab-disconnected', !live);
    view.el.dataset['connected'] = String(live);
    notice.textContent = live ? '' : DISCONNECTED_TEXT;
    notice.hidden = live;
  };
  view.listenTo(view.model, 'comm_live_update', update);
  update();
}
