import { DOMWidgetModel, DOMWidgetView, type ISerializers } from '@jupyter-widgets/base';
import { MODULE, VERSION } from './head-steering-view.js';
import { patternColumn, patternRow, weightColor } from './explorer-math.js';
import { deserializeFloat32, serializeFloat32 } from './binary-state.js';
import { watchConnection } from './connection.js';

export class AttentionExplorerModel extends DOMWidgetModel {
  static override serializers: ISerializers = {
    ...DOMWidgetModel.serializers,
    // Patterns travel and are saved as one binary buffer (see binary-state.ts).
    patterns: { serialize: serializeFloat32, deserialize: deserializeFloat32 },
  };

  override defaults(): Record<string, unknown> {
    return {
      ...super.defaults(),
      _model_name: 'AttentionExplorerModel', _model_module: MODULE, _model_module_version: VERSION,
      _view_name: 'AttentionExplorerView', _view_module: MODULE, _view_module_version: VERSION,
      tokens: [], shape: [0, 0, 0, 0], patterns: new Float32Array(0), layer: 0, head: 0, title: 'Attention explorer', version: 0,
    };
  }
}

/**
 * Tokens shown twice: hovering a token in the top row shades the keys it attends to; hovering one
 * in the bottom row shades the queries that attend to it. Layer and head are chosen above; the
 * view redraws whenever the kernel sends new patterns (e.g. after a head-steering change).
 */
export class AttentionExplorerView extends DOMWidgetView {
  private queries!: HTMLDivElement;
  private keys!: HTMLDivElement;
  private info!: HTMLDivElement;

  override render(): void {
    this.el.classList.add('attnlab-explorer');
    const bar = document.createElement('div');
    bar.className = 'attnlab-explorer-bar';
    const title = document.createElement('span');
    title.className = 'attnlab-steering-title';
    title.textContent = String(this.model.get('title'));
    bar.append(title, this.selector('layer', 0), this.selector('head', 1));
    this.info = document.createElement('div');
    this.info.className = 'attnlab-explorer-info';
    this.queries = document.createElement('div');
    this.queries.className = 'attnlab-tokens attnlab-queries';
    this.keys = document.createElement('div');
    this.keys.className = 'attnlab-tokens attnlab-keys';
    const notice = document.createElement('div');
    notice.className = 'attnlab-disconnected-notice';
    const controls = document.createElement('div');
    controls.append(bar, this.labelled('query (hover: what it attends to)', this.queries), this.labelled('key (hover: who attends to it)', this.keys), this.info);
    this.el.append(notice, controls);
    // Hover keeps working on the saved patterns (it needs no kernel); the layer/head choice does not.
    watchConnection(this, bar, notice);
    this.listenTo(this.model, 'change:tokens change:patterns change:layer change:head change:shape', () => this.draw());
    this.draw();
  }

  private labelled(text: string, row: HTMLElement): HTMLElement {
    const box = document.createElement('div');
    const label = document.createElement('div');
    label.className = 'attnlab-explorer-label';
    label.textContent = text;
    box.append(label, row);
    return box;
  }

  private selector(name: 'layer' | 'head', axis: number): HTMLElement {
    const label = document.createElement('label');
    const select = document.createElement('select');
    select.className = `attnlab-explorer-${name}`;
    const fill = () => {
      const n = (this.model.get('shape') as number[])[axis] ?? 0;
      select.replaceChildren(...Array.from({ length: n }, (_, i) => {
        const o = document.createElement('option');
        o.value = String(i);
        o.textContent = `${name} ${i}`;
        return o;
      }));
      select.value = String(this.model.get(name));
    };
    fill();
    this.listenTo(this.model, 'change:shape', fill);
    this.listenTo(this.model, `change:${name}`, () => (select.value = String(this.model.get(name))));
    select.onchange = () => {
      this.model.set(name, Number(select.value));
      this.touch();
    };
    label.append(select);
    return label;
  }

  private draw(): void {
    const tokens = this.model.get('tokens') as string[];
    const make = (row: HTMLDivElement, role: 'q' | 'k') =>
      row.replaceChildren(...tokens.map((t, i) => {
        const s = document.createElement('span');
        s.className = 'attnlab-token';
        s.textContent = t;
        s.dataset['index'] = String(i);
        s.onmouseenter = () => this.highlight(role, i);
        s.onmouseleave = () => this.clear();
        return s;
      }));
    make(this.queries, 'q');
    make(this.keys, 'k');
    this.info.textContent = `${tokens.length} tokens; hover a token`;
  }

  private highlight(role: 'q' | 'k', i: number): void {
    const p = this.model.get('patterns') as Float32Array;
    const shape = this.model.get('shape') as number[];
    const layer = Number(this.model.get('layer')), head = Number(this.model.get('head'));
    const tokens = this.model.get('tokens') as string[];
    const weights = role === 'q' ? patternRow(p, shape, layer, head, i) : patternColumn(p, shape, layer, head, i);
    const other = role === 'q' ? this.keys : this.queries;
    const self = role === 'q' ? this.queries : this.keys;
    self.querySelectorAll<HTMLElement>('.attnlab-token').forEach((s, j) => s.classList.toggle('attnlab-token-active', j === i));
    other.querySelectorAll<HTMLElement>('.attnlab-token').forEach((s, j) => {
      s.style.background = weightColor(weights[j]!);
      s.title = `${weights[j]!.toFixed(3)}`;
    });
    let best = 0;
    weights.forEach((w, j) => (w > weights[best]! ? (best = j) : 0));
    this.info.textContent = role === 'q'
      ? `layer ${layer} head ${head}: "${tokens[i]}" attends most to "${tokens[best]}" (${weights[best]!.toFixed(3)})`
      : `layer ${layer} head ${head}: "${tokens[i]}" is attended most by "${tokens[best]}" (${weights[best]!.toFixed(3)})`;
  }

  private clear(): void {
    for (const row of [this.queries, this.keys]) row.querySelectorAll<HTMLElement>('.attnlab-token').forEach((s) => {
      s.style.background = '';
      s.classList.remove('attnlab-token-active');
    });
  }
}
