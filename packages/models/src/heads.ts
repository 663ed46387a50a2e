import { add, mean, mul, tensor, type Device, type Tensor } from '@attnlab/tensor';
import { ModelError } from './errors.js';

export type PerturbMode = 'identity' | 'uniform' | 'temperature';

/**
 * What happens to one attention head.
 * - gate: multiplies the head's output z (1 = unchanged, 0 = off).
 * - ablate: 'zero' replaces z with 0; 'mean' with its mean over batch and positions of the run.
 * - perturb: the generic per-head pattern transform. 'identity' and 'uniform' interpolate the
 *   softmax pattern toward the identity or the (mask-respecting) uniform pattern with weight
 *   `strength` in [0, 1]; 'temperature' divides the scores by `strength` before the softmax.
 *   Methods built on it (e.g. @attnlab/heads' SoftPAG guidance and HeadHunter) own their policies.
 */
export interface HeadControl {
  gate?: number;
  ablate?: 'zero' | 'mean' | null;
  perturb?: { mode: PerturbMode; strength: number } | null;
}

export interface HeadSelector {
  layer: number;
  head: number;
}

export type HeadsListener = (sel: HeadSelector | null, control: HeadControl | null) => void;

/**
 * Per-head controls as shared model state: the HeadSteering widget and method plugins change the
 * same object, and every forward reads it. `set` merges into the current control; `reset`
 * clears everything. Listeners hear each change (sel null = reset).
 */
export class HeadControls {
  private readonly controls = new Map<string, HeadControl>();
  private readonly listeners = new Set<HeadsListener>();
  private version = 0;

  constructor(readonly layers: number, readonly heads: number) {}

  private key(sel: HeadSelector): string {
    const { layer, head } = sel;
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.layers) throw new ModelError('heads', `layer ${layer} is out of range (model has ${this.layers})`);
    if (!Number.isInteger(head) || head < 0 || head >= this.heads) throw new ModelError('heads', `head ${head} is out of range (${this.heads} per layer)`);
    return `${layer}:${head}`;
  }

  set(sel: HeadSelector, control: HeadControl): void {
    const k = this.key(sel);
    if (control.gate !== undefined && !Number.isFinite(control.gate)) throw new ModelError('heads', `gate must be a finite number, got ${control.gate}`);
    if (control.ablate && control.ablate !== 'zero' && control.ablate !== 'mean') throw new ModelError('heads', `ablate must be 'zero' or 'mean', got '${String(control.ablate)}'`);
    const p = control.perturb;
    if (p) {
      if (!['identity', 'uniform', 'temperature'].includes(p.mode)) throw new ModelError('heads', `unknown perturb mode '${p.mode}'`);
      if (!Number.isFinite(p.strength)) throw new ModelError('heads', `perturb strength must be finite, got ${p.strength}`);
      if (p.mode === 'temperature' && p.strength <= 0) throw new ModelError('heads', `temperature must be > 0, got ${p.strength}`);
    }
    const merged: HeadControl = { ...this.controls.get(k), ...control };
    if (isNeutral(merged)) this.controls.delete(k);
    else this.controls.set(k, merged);
    this.version++;
    for (const l of this.listeners) l({ ...sel }, { ...merged });
  }

  get(sel: HeadSelector): HeadControl {
    return { gate: 1, ablate: null, perturb: null, ...this.controls.get(this.key(sel)) };
  }

  reset(): void {
    this.controls.clear();
    this.version++;
    for (const l of this.listeners) l(null, null);
  }

  /** Controls in effect, as [selector, control] pairs. */
  entries(): [HeadSelector, HeadControl][] {
    return [...this.controls].map(([k, c]) => {
      const [layer, head] = k.split(':').map(Number) as [number, number];
      return [{ layer, head }, { ...c }];
    });
  }

  /** Controls of one layer, indexed by head (undefined where neutral). */
  layer(layer: number): (HeadControl | undefined)[] {
    const out: (HeadControl | undefined)[] = [];
    for (let h = 0; h < this.heads; h++) out.push(this.controls.get(`${layer}:${h}`));
    return out;
  }

  /** Bumped on every change (cheap staleness check for caches). */
  get changeCount(): number {
    return this.version;
  }

  onChange(fn: HeadsListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  toJSON(): { layers: number; heads: number; controls: { layer: number; head: number; control: HeadControl }[] } {
    return { layers: this.layers, heads: this.heads, controls: this.entries().map(([s, c]) => ({ ...s, control: c })) };
  }
}

function isNeutral(c: HeadControl): boolean {
  return (c.gate === undefined || c.gate === 1) && !c.ablate && (!c.perturb || (c.perturb.mode !== 'temperature' && c.perturb.strength === 0) || (c.perturb.mode === 'temperature' && c.perturb.strength === 1));
}

/**
 * Gate and ablation of one layer's heads on z [B, H, N, Dh]: z' = z·a[h] + mean(z)·b[h], where
 * mean ablation replaces a head's output by its mean over batch and positions (scaled by the gate).
 */
export function gateAndAblate(controls: readonly (HeadControl | undefined)[], z: Tensor, device: Device): Tensor {
  if (controls.every((ctl) => !ctl || ((ctl.gate ?? 1) === 1 && !ctl.ablate))) return z;
  const H = controls.length;
  const a = new Float32Array(H);
  const bm = new Float32Array(H);
  for (let h = 0; h < H; h++) {
    const ctl = controls[h];
    const g = ctl?.gate ?? 1;
    if (ctl?.ablate === 'zero') a[h] = 0;
    else if (ctl?.ablate === 'mean') bm[h] = g;
    else a[h] = g;
  }
  let out = mul(z, tensor(a, [1, H, 1, 1], { device }));
  if (bm.some((x) => x !== 0)) out = add(out, mul(mean(z, [0, 2], true), tensor(bm, [1, H, 1, 1], { device })));
  return out;
}
