import { WidgetModel } from './widget.js';
import type { JSONObject } from './context.js';
import { WIDGETS_EXTENSION, WIDGETS_EXTENSION_VERSION } from './head-steering.js';

export interface Patterns {
  /** [layers, heads, N, N] attention probabilities. */
  data: ArrayLike<number>;
  shape: readonly [number, number, number, number];
}

type ExplorerState = JSONObject & {
  tokens: string[];
  shape: number[];
  patterns: Float32Array;
  layer: number;
  head: number;
  title: string;
  version: number;
};

function check(p: Patterns, tokens: readonly string[]): Float32Array {
  if (!p || !Array.isArray(p.shape) || p.shape.length !== 4) throw new RangeError('AttentionExplorer: patterns need shape [layers, heads, N, N]');
  const [L, H, N, M] = p.shape;
  if (N !== M) throw new RangeError(`AttentionExplorer: patterns must be square per head, got ${N}x${M}`);
  if (tokens.length !== N) throw new RangeError(`AttentionExplorer: ${tokens.length} tokens for patterns over ${N} positions`);
  if (p.data.length !== L * H * N * N) throw new RangeError(`AttentionExplorer: shape [${p.shape.join(', ')}] needs ${L * H * N * N} values, got ${p.data.length}`);
  return p.data instanceof Float32Array ? p.data : Float32Array.from(p.data);
}

/**
 * Tokens and per-head attention patterns with linked hover (hovering a token highlights what it
 * attends to, in the chosen layer and head). `refresh()` recomputes the patterns, so binding it to
 * a HeadSteering callback keeps the view live. Patterns travel as one binary buffer.
 */
export class AttentionExplorer extends WidgetModel<ExplorerState> {
  constructor(tokens: readonly string[], patterns: Patterns, private readonly compute?: () => Promise<Patterns> | Patterns, title = 'Attention explorer') {
    const data = check(patterns, tokens);
    super(
      { modelName: 'AttentionExplorerModel', modelModule: WIDGETS_EXTENSION, modelModuleVersion: WIDGETS_EXTENSION_VERSION, viewName: 'AttentionExplorerView', viewModule: WIDGETS_EXTENSION, viewModuleVersion: WIDGETS_EXTENSION_VERSION },
      { tokens: [...tokens], shape: [...patterns.shape], patterns: data, layer: 0, head: 0, title, version: 0 },
    );
  }

  /** Builds the explorer from a pattern function (called now and on every refresh). */
  static async create(tokens: readonly string[], compute: () => Promise<Patterns> | Patterns, title?: string): Promise<AttentionExplorer> {
    return new AttentionExplorer(tokens, await compute(), compute, title);
  }

  async refresh(patterns?: Patterns): Promise<void> {
    const p = patterns ?? (await this.compute?.());
    if (!p) throw new Error('AttentionExplorer.refresh: no patterns given and no compute function');
    const data = check(p, this.get('tokens'));
    this.set({ patterns: data, shape: [...p.shape], version: this.get('version') + 1 });
  }

  protected override validate(patch: Partial<ExplorerState>): Partial<ExplorerState> {
    super.validate(patch);
    const [L, H] = (patch.shape ?? this.get('shape')) as number[];
    if ('layer' in patch && (!Number.isInteger(patch.layer) || patch.layer! < 0 || patch.layer! >= L!)) throw new RangeError(`AttentionExplorer: layer ${JSON.stringify(patch.layer)} out of range (0..${L! - 1})`);
    if ('head' in patch && (!Number.isInteger(patch.head) || patch.head! < 0 || patch.head! >= H!)) throw new RangeError(`AttentionExplorer: head ${JSON.stringify(patch.head)} out of range (0..${H! - 1})`);
    return patch;
  }
}
