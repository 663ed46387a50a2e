/**
 * Registries of head scores and analyses, by name. A score maps a model (and its options: tokens,
 * a task) to a [layers, heads] tensor, e.g. an induction or retrieval score a method package
 * defines; an analysis returns anything (a figure, a table). Widgets and notebooks find them by
 * name, so they never import the method package. Re-registering a name replaces it (a re-run
 * cell); unknown names list every registered one. Both registries are published as kernel
 * extension points ('score', 'analysis'), so a plugin's ctx.registerScore / registerAnalysis
 * lands here and is undone when the plugin is disposed.
 */
import type { Tensor } from '@attnlab/tensor';
import { ModelError } from './errors.js';
import type { Transformer } from './transformer.js';

export interface HeadScore {
  readonly name: string;
  description?: string;
  /** [layers, heads] for this model. */
  compute(model: Transformer, options?: Record<string, unknown>): Promise<Tensor> | Tensor;
}

export interface Analysis {
  readonly name: string;
  description?: string;
  run(model: Transformer, options?: Record<string, unknown>): Promise<unknown> | unknown;
}

type Input<T extends { name: string }> = Omit<T, 'name'> & { name?: string };

function registry<T extends { name: string }>(label: string, fn: 'compute' | 'run') {
  const items = new Map<string, T>();
  return {
    items,
    register(name: string, item: Input<T>): { dispose(): void } {
      if (typeof name !== 'string' || !name) throw new ModelError(`register ${label}`, 'name must be a non-empty string');
      if (!item || typeof (item as Record<string, unknown>)[fn] !== 'function') throw new ModelError(`register ${label}`, `${label} '${name}' needs a ${fn}(model, options) function`);
      const v = { ...item, name } as unknown as T;
      items.set(name, v);
      return { dispose: () => void (items.get(name) === v && items.delete(name)) };
    },
    get(name: string): T {
      const v = items.get(name);
      if (!v) throw new ModelError(label, `unknown ${label} '${name}' (registered: ${[...items.keys()].join(', ') || 'none'})`);
      return v;
    },
  };
}

const scores = registry<HeadScore>('score', 'compute');
const analyses = registry<Analysis>('analysis', 'run');

export const registerScore = (name: string, score: Input<HeadScore>): { dispose(): void } => scores.register(name, score);
export const getScore = (name: string): HeadScore => scores.get(name);
export const listScores = (): string[] => [...scores.items.keys()];
export const unregisterScore = (name: string): boolean => scores.items.delete(name);

export const registerAnalysis = (name: string, analysis: Input<Analysis>): { dispose(): void } => analyses.register(name, analysis);
export const getAnalysis = (name: string): Analysis => analyses.get(name);
export const listAnalyses = (): string[] => [...analyses.items.keys()];
export const unregisterAnalysis = (name: string): boolean => analyses.items.delete(name);

/** Runs a registered score and checks it returned [layers, heads]. */
export async function computeScore(name: string, model: Transformer, options?: Record<string, unknown>): Promise<Tensor> {
  const t = await getScore(name).compute(model, options);
  const want = [model.config.nLayers, model.config.nHeads];
  if (!t || t.rank !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
    throw new ModelError('computeScore', `score '${name}' returned ${t ? `[${t.shape.join(', ')}]` : String(t)}, expected [${want.join(', ')}] (layers, heads)`);
  }
  return t;
}

// Published for the kernel's plugin context (same shape as its ExtensionPoint; no kernel import).
const POINTS = Symbol.for('attnlab.extension-points');
function publish<T extends { name: string }>(kind: string, label: string, r: ReturnType<typeof registry<T>>): void {
  const g = globalThis as unknown as Record<symbol, Map<string, unknown> | undefined>;
  (g[POINTS] ??= new Map()).set(kind, {
    label,
    get: (name: string) => r.items.get(name),
    set: (name: string, item: Input<T>) => void r.register(name, item),
    delete: (name: string) => void r.items.delete(name),
  });
}
publish('score', 'head score', scores);
publish('analysis', 'analysis', analyses);
