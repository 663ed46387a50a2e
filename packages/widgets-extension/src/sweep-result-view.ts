import { DOMWidgetModel, DOMWidgetView } from '@jupyter-widgets/base';
import { scoreColor, textColorOn, type SweepEntry } from '@attnlab/widgets';
import { watchConnection } from './connection.js';
import { el } from './dom.js';
import { MODULE, VERSION } from './head-steering-view.js';
import { formatValue, formatWithInterval } from './score-format.js';
import { scoreLegend } from './score-legend.js';

export class SweepResultModel extends DOMWidgetModel {
  override defaults(): Record<string, unknown> {
    return {
      ...super.defaults(),
      _model_name: 'SweepResultModel', _model_module: MODULE, _model_module_version: VERSION,
      _view_name: 'SweepResultView', _view_module: MODULE, _view_module_version: VERSION,
      title: 'Sweep results', metric: 'value', layers: 0, columns: 0, column_kind: 'head', entries: [], cell_entry: [],
      range: null, selected: -1, clickable: false, error: '',
    };
  }
}

/**
 * A sweep's results: a layers x (heads | positions) heatmap coloured by value (cells without a
 * single-head result are grey), and a table of every result with its interval. Clicking a cell or
 * a row sends 'select'; the kernel toggles ablation of the result's heads on the model it is bound
 * to, so a HeadSteering grid on the same model follows.
 */
export class SweepResultView extends DOMWidgetView {
  private body!: HTMLDivElement;
  private status!: HTMLDivElement;

  override render(): void {
    this.el.classList.add('attnlab-sweep');
    const notice = el('div', 'attnlab-disconnected-notice');
    const controls = el('div', 'attnlab-sweep-controls');
    this.body = el('div', 'attnlab-sweep-body');
    this.status = el('div', 'attnlab-sweep-status');
    controls.append(this.body);
    this.el.append(notice, controls);
    watchConnection(this, controls, notice);
    this.listenTo(this.model, 'change', () => this.draw());
    this.draw();
  }

  private select(index: number): void {
    if (index >= 0) this.send({ action: 'select', index });
  }

  private draw(): void {
    const L = Number(this.model.get('layers')), C = Number(this.model.get('columns'));
    const kind = String(this.model.get('column_kind'));
    const entries = (this.model.get('entries') ?? []) as SweepEntry[];
    const cellEntry = (this.model.get('cell_entry') ?? []) as number[];
    const range = this.model.get('range') as [number, number] | null;
    const selected = Number(this.model.get('selected'));
    const clickable = Boolean(this.model.get('clickable'));
    const metric = String(this.model.get('metric'));
    const err = String(this.model.get('error') ?? '');
    this.status.textContent = err ? `⚠ ${err}` : clickable ? 'click a head to toggle its ablation' : '';
    this.status.classList.toggle('attnlab-error', Boolean(err));

    const head = el('div', 'attnlab-sweep-head');
    head.append(el('span', 'attnlab-sweep-title', String(this.model.get('title'))), this.status);
    const legend = scoreLegend(metric, range);

    const grid = el('table', 'attnlab-sweep-heatmap');
    const top = grid.insertRow();
    top.appendChild(el('th', '', ''));
    for (let c = 0; c < C; c++) top.appendChild(el('th', '', kind === 'head' ? `H${c}` : String(c)));
    for (let l = 0; l < L; l++) {
      const row = grid.insertRow();
      row.appendChild(el('th', '', `L${l}`));
      for (let c = 0; c < C; c++) {
        const i = cellEntry[l * C + c] ?? -1;
        const e = i >= 0 ? entries[i] : undefined;
        const td = el('td', 'attnlab-sweep-cell', e ? formatValue(e.value) : '');
        td.dataset['entry'] = String(i);
        const bg = scoreColor(e ? e.value : null, range);
        td.style.background = bg;
        td.style.color = textColorOn(bg);
        td.title = e ? `${e.label}: ${formatWithInterval(e.value, e.lo, e.hi)}` : `L${l} ${kind} ${c}: no result`;
        td.classList.toggle('attnlab-selected', i >= 0 && i === selected);
        if (i >= 0) td.onclick = () => this.select(i);
        row.appendChild(td);
      }
    }

    const scroll = el('div', 'attnlab-sweep-scroll');
    const table = el('table', 'attnlab-sweep-table');
    const hr = table.insertRow();
    for (const h of ['result', metric, 'interval']) hr.appendChild(el('th', '', h));
    entries.forEach((e, i) => {
      const tr = table.insertRow();
      tr.dataset['clickable'] = String(clickable && e.heads.length > 0);
      tr.classList.toggle('attnlab-selected', i === selected);
      tr.appendChild(el('td', '', e.label));
      tr.appendChild(el('td', 'attnlab-num', formatValue(e.value)));
      tr.appendChild(el('td', 'attnlab-num', e.lo === null || e.hi === null ? '–' : `[${formatValue(e.lo)}, ${formatValue(e.hi)}]`));
      tr.onclick = () => this.select(i);
    });
    scroll.append(table);
    this.body.replaceChildren(head, legend, grid, scroll);
  }
}
