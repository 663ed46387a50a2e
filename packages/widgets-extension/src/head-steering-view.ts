import { DOMWidgetModel, DOMWidgetView } from '@jupyter-widgets/base';
import { PERTURB_CHOICES, scoreColor, type SteeringCell } from '@attnlab/widgets';
import { watchConnection } from './connection.js';
import { el } from './dom.js';
import { autoLayout, cellColor, cellSummary, LAYOUTS, type SteeringLayout } from './steering-layout.js';
import { formatValue } from './score-format.js';
import { scoreLegend } from './score-legend.js';

export const MODULE = '@attnlab/widgets-extension';
export const VERSION = '0.1.0';

export class HeadSteeringModel extends DOMWidgetModel {
  override defaults(): Record<string, unknown> {
    return {
      ...super.defaults(),
      _model_name: 'HeadSteeringModel', _model_module: MODULE, _model_module_version: VERSION,
      _view_name: 'HeadSteeringView', _view_module: MODULE, _view_module_version: VERSION,
      layers: 0, heads: 0, cells: [], title: 'Head steering', busy: false, error: '', runs: 0,
      score_names: [], score: '', score_values: [], score_range: null, score_description: '',
    };
  }
}

/**
 * The grid: a row per layer, a column per head. Each cell has a gate slider (0-2), an ablate
 * toggle and a perturbation (mode + strength). Row and column headers apply to the whole layer
 * or head index. Every edit is a custom message; the kernel applies it to the model and sends
 * the resulting cells back, so what is shown is always what the model holds.
 *
 * Three layouts (chosen to fit the output's width, changeable above the grid): full controls,
 * compact controls, or a colour swatch per head whose controls open below the grid on click.
 * Layer labels stay in view (sticky) when the grid scrolls sideways.
 */
export class HeadSteeringView extends DOMWidgetView {
  private grid!: HTMLTableElement;
  private status!: HTMLDivElement;
  private detail!: HTMLDivElement;
  private layoutSelect!: HTMLSelectElement;
  private scoreSelect!: HTMLSelectElement;
  private legend!: HTMLDivElement;
  private layout: SteeringLayout | null = null;
  private selected: { layer: number; head: number } | null = null;

  override render(): void {
    this.el.classList.add('attnlab-steering');
    const head = el('div', 'attnlab-steering-head');
    const title = el('span', 'attnlab-steering-title', String(this.model.get('title')));
    const reset = el('button', 'jp-Button attnlab-steering-reset', 'Reset all');
    reset.onclick = () => this.send({ action: 'reset' });
    this.layoutSelect = el('select', 'attnlab-steering-layout');
    this.layoutSelect.title = 'layout of the grid';
    for (const l of LAYOUTS) {
      const o = el('option', '', l === 'color' ? 'colour only' : l);
      o.value = l;
      this.layoutSelect.appendChild(o);
    }
    this.layoutSelect.onchange = () => {
      this.layout = this.layoutSelect.value as SteeringLayout;
      this.drawGrid();
    };
    // The colour layer: any registered score; the kernel computes it and sends the values back.
    this.scoreSelect = el('select', 'attnlab-steering-score');
    this.scoreSelect.title = 'colour the heads by a score';
    this.scoreSelect.onchange = () => this.send({ action: 'score', name: this.scoreSelect.value });
    this.legend = el('div', 'attnlab-legend');
    this.status = el('div', 'attnlab-steering-status');
    const notice = el('div', 'attnlab-disconnected-notice');
    head.append(title, this.layoutSelect, this.scoreSelect, reset, this.status);
    const controls = el('div', 'attnlab-steering-controls');
    const scroll = el('div', 'attnlab-steering-scroll');
    this.grid = el('table', 'attnlab-steering-grid');
    scroll.append(this.grid);
    this.detail = el('div', 'attnlab-steering-detail');
    controls.append(head, this.legend, scroll, this.detail);
    this.el.append(notice, controls);
    watchConnection(this, controls, notice);
    this.listenTo(this.model, 'change:cells change:layers change:heads', () => this.drawGrid());
    this.listenTo(this.model, 'change:busy change:error change:runs', () => this.drawStatus());
    this.listenTo(this.model, 'change:score change:score_values change:score_range change:score_names', () => this.drawGrid());
    this.drawGrid();
    this.drawStatus();
  }

  /** Once attached the width is known: pick the layout that fits (unless the user chose one). */
  override processLuminoMessage(msg: Parameters<DOMWidgetView['processLuminoMessage']>[0]): void {
    super.processLuminoMessage(msg);
    if ((msg.type === 'after-attach' || msg.type === 'after-show') && this.layout === null && this.el.clientWidth > 0) this.drawGrid();
  }

  private currentLayout(): SteeringLayout {
    if (this.layout) return this.layout;
    const width = this.el.clientWidth || 1100;
    return autoLayout(Number(this.model.get('heads')), width);
  }

  private drawStatus(): void {
    const err = String(this.model.get('error') ?? '');
    this.status.textContent = err ? `⚠ ${err}` : this.model.get('busy') ? 'running…' : `applied (${this.model.get('runs')} runs)`;
    this.status.classList.toggle('attnlab-error', Boolean(err));
    this.el.dataset['busy'] = String(Boolean(this.model.get('busy')));
  }

  private drawGrid(): void {
    const L = Number(this.model.get('layers')), H = Number(this.model.get('heads'));
    const cells = this.model.get('cells') as SteeringCell[];
    const layout = this.currentLayout();
    this.layoutSelect.value = layout;
    this.el.dataset['layout'] = layout;
    this.drawScoreControls();
    this.grid.replaceChildren();
    const top = this.grid.insertRow();
    top.appendChild(el('th', 'attnlab-corner', ''));
    for (let h = 0; h < H; h++) {
      const th = el('th', 'attnlab-col-head');
      th.append(el('div', '', layout === 'color' ? `h${h}` : `head ${h}`), this.actionButtons({ action: 'col', head: h }, layout));
      top.appendChild(th);
    }
    for (let l = 0; l < L; l++) {
      const row = this.grid.insertRow();
      const th = el('th', 'attnlab-row-head');
      th.append(el('div', '', `layer ${l}`), this.actionButtons({ action: 'row', layer: l }, layout));
      row.appendChild(th);
      for (let h = 0; h < H; h++) row.appendChild(layout === 'color' ? this.swatch(l, h, cells[l * H + h]!) : this.cell(l, h, cells[l * H + h]!, layout));
    }
    this.drawDetail(layout, cells, H);
  }

  private drawScoreControls(): void {
    const names = (this.model.get('score_names') ?? []) as string[];
    const shown = String(this.model.get('score') ?? '');
    this.scoreSelect.replaceChildren();
    for (const n of ['', ...names]) {
      const o = el('option', '', n || 'no score');
      o.value = n;
      this.scoreSelect.appendChild(o);
    }
    this.scoreSelect.value = shown;
    this.scoreSelect.hidden = names.length === 0 && !shown;
    const legend = scoreLegend(shown, this.model.get('score_range') as [number, number] | null, String(this.model.get('score_description') ?? ''));
    this.legend.replaceChildren(...Array.from(legend.childNodes));
  }

  /** The score layer's value at a head (null when none is shown or the value is missing). */
  private scoreOf(layer: number, head: number): number | null {
    if (!this.model.get('score')) return null;
    const v = (this.model.get('score_values') as (number | null)[])[layer * Number(this.model.get('heads')) + head];
    return v ?? null;
  }

  /** Colours a cell by the score layer: the swatch's fill, or a band along a control cell's bottom edge. */
  private paintScore(td: HTMLTableCellElement, target: HTMLElement, layer: number, head: number, fill: boolean): void {
    if (!this.model.get('score')) return;
    const v = this.scoreOf(layer, head);
    const color = scoreColor(v, this.model.get('score_range') as [number, number] | null);
    if (fill) target.style.background = color;
    else td.style.boxShadow = `inset 0 -7px 0 ${color}`;
    const text = `${this.model.get('score')} ${formatValue(v)}`;
    target.title = target.title ? `${target.title}; ${text}` : text;
    td.dataset['score'] = formatValue(v);
  }

  /** In the colour layout, the controls of the selected head. */
  private drawDetail(layout: SteeringLayout, cells: SteeringCell[], H: number): void {
    this.detail.replaceChildren();
    if (layout !== 'color' || !this.selected) return;
    const { layer, head } = this.selected;
    const c = cells[layer * H + head];
    if (!c) return;
    const box = this.cell(layer, head, c, 'full');
    const label = el('span', 'attnlab-detail-label', `layer ${layer} head ${head}`);
    const close = el('button', 'jp-Button attnlab-mini', 'close');
    close.onclick = () => {
      this.selected = null;
      this.drawGrid();
    };
    const wrap = el('div', 'attnlab-detail-controls');
    wrap.append(...Array.from(box.childNodes));
    this.detail.append(label, wrap, close);
  }

  private actionButtons(target: Record<string, unknown>, layout: SteeringLayout): HTMLElement {
    const box = el('div', 'attnlab-actions');
    const ablate = el('button', 'jp-Button attnlab-mini', layout === 'color' ? '×' : 'ablate');
    ablate.title = 'ablate all';
    ablate.onclick = () => this.send({ ...target, patch: { ablate: true } });
    const restore = el('button', 'jp-Button attnlab-mini', layout === 'color' ? '↺' : 'restore');
    restore.title = 'restore all';
    restore.onclick = () => this.send({ ...target, patch: { gate: 1, ablate: false, perturb: 'none' } });
    box.append(ablate, restore);
    return box;
  }

  private swatch(layer: number, head: number, c: SteeringCell): HTMLTableCellElement {
    const td = el('td', 'attnlab-cell attnlab-swatch-cell');
    td.dataset['layer'] = String(layer);
    td.dataset['head'] = String(head);
    td.classList.toggle('attnlab-ablated', c.ablate);
    td.classList.toggle('attnlab-changed', c.gate !== 1 || c.ablate || c.perturb !== 'none');
    const b = el('button', 'attnlab-swatch');
    b.style.background = cellColor(c);
    b.title = cellSummary(layer, head, c);
    // With a score layer the fill is the score; the head's own state shows as an outline class.
    this.paintScore(td, b, layer, head, true);
    b.setAttribute('aria-label', b.title);
    const sel = this.selected?.layer === layer && this.selected.head === head;
    b.classList.toggle('attnlab-selected', sel);
    b.onclick = () => {
      this.selected = sel ? null : { layer, head };
      this.drawGrid();
    };
    td.append(b);
    return td;
  }

  private cell(layer: number, head: number, c: SteeringCell, layout: SteeringLayout): HTMLTableCellElement {
    const compact = layout === 'compact';
    const td = el('td', `attnlab-cell${compact ? ' attnlab-compact' : ''}`);
    td.dataset['layer'] = String(layer);
    td.dataset['head'] = String(head);
    const changed = c.gate !== 1 || c.ablate || c.perturb !== 'none';
    td.classList.toggle('attnlab-changed', changed);
    td.classList.toggle('attnlab-ablated', c.ablate);
    const set = (patch: Partial<SteeringCell>) => this.send({ action: 'set', layer, head, patch });

    const gate = el('input', 'attnlab-gate');
    gate.type = 'range';
    gate.min = '0';
    gate.max = '2';
    gate.step = '0.05';
    gate.value = String(c.gate);
    gate.title = `gate ${c.gate.toFixed(2)}`;
    const gateText = el('span', 'attnlab-gate-value', c.gate.toFixed(2));
    gate.oninput = () => (gateText.textContent = Number(gate.value).toFixed(2));
    gate.onchange = () => set({ gate: Number(gate.value) });

    const ablate = el('input', 'attnlab-ablate');
    ablate.type = 'checkbox';
    ablate.checked = c.ablate;
    ablate.onchange = () => set({ ablate: ablate.checked });
    const ablateLabel = el('label', 'attnlab-ablate-label');
    ablateLabel.append(ablate, document.createTextNode(compact ? '' : ' ablate'));
    ablateLabel.title = 'ablate this head';

    const mode = el('select', 'attnlab-perturb');
    for (const m of PERTURB_CHOICES) {
      const o = el('option', '', m);
      o.value = m;
      mode.appendChild(o);
    }
    mode.value = c.perturb;
    mode.onchange = () => set({ perturb: mode.value as SteeringCell['perturb'], strength: mode.value === 'temperature' ? 2 : c.strength });

    const strength = el('input', 'attnlab-strength');
    strength.type = 'number';
    strength.min = '0';
    strength.max = c.perturb === 'temperature' ? '10' : '1';
    strength.step = '0.1';
    strength.value = String(c.strength);
    strength.disabled = c.perturb === 'none';
    strength.onchange = () => set({ strength: Number(strength.value) });

    const line1 = el('div', 'attnlab-line');
    line1.append(gate, gateText);
    const line2 = el('div', 'attnlab-line');
    line2.append(ablateLabel);
    const line3 = el('div', 'attnlab-line');
    line3.append(mode, strength);
    if (compact) {
      // Two short lines: gate; ablate + perturbation (its strength only when one is chosen).
      mode.title = 'perturbation';
      line2.append(mode);
      if (c.perturb !== 'none') line2.append(strength);
      td.append(line1, line2);
    } else td.append(line1, line2, line3);
    this.paintScore(td, td, layer, head, false);
    return td;
  }
}
