/**
 * DOM-free logic shared by HeadSteering's kernel side and its view: the per-head cell state,
 * its mapping to a model's HeadControl, and the row/column/all actions.
 */
export type PerturbChoice = 'none' | 'identity' | 'uniform' | 'temperature';

export interface SteeringCell {
  gate: number;
  ablate: boolean;
  perturb: PerturbChoice;
  strength: number;
}

/** What @attnlab/models' HeadControl looks like (structural). */
export interface HeadControlLike {
  gate?: number;
  ablate?: 'zero' | 'mean' | null;
  perturb?: { mode: 'identity' | 'uniform' | 'temperature'; strength: number } | null;
}

export const NEUTRAL: SteeringCell = { gate: 1, ablate: false, perturb: 'none', strength: 0.5 };
export const PERTURB_CHOICES: readonly PerturbChoice[] = ['none', 'identity', 'uniform', 'temperature'];

export function toControl(c: SteeringCell): HeadControlLike {
  return {
    gate: c.gate,
    ablate: c.ablate ? 'zero' : null,
    perturb: c.perturb === 'none' ? null : { mode: c.perturb, strength: c.strength },
  };
}

export function fromControl(c: HeadControlLike): SteeringCell {
  return {
    gate: c.gate ?? 1,
    ablate: c.ablate === 'zero' || c.ablate === 'mean',
    perturb: c.perturb ? c.perturb.mode : 'none',
    strength: c.perturb ? c.perturb.strength : NEUTRAL.strength,
  };
}

/** Validates a patch from the front end; the error names the field. */
export function checkPatch(p: unknown): Partial<SteeringCell> {
  if (typeof p !== 'object' || p === null) throw new TypeError('HeadSteering: patch must be an object');
  const out: Partial<SteeringCell> = {};
  for (const [k, v] of Object.entries(p)) {
    if (k === 'gate') {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 2) throw new RangeError(`HeadSteering: gate must be a number in [0, 2], got ${JSON.stringify(v)}`);
      out.gate = v;
    } else if (k === 'ablate') {
      if (typeof v !== 'boolean') throw new TypeError(`HeadSteering: ablate must be true or false, got ${JSON.stringify(v)}`);
      out.ablate = v;
    } else if (k === 'perturb') {
      if (!PERTURB_CHOICES.includes(v as PerturbChoice)) throw new RangeError(`HeadSteering: perturb must be one of ${PERTURB_CHOICES.join(', ')}, got ${JSON.stringify(v)}`);
      out.perturb = v as PerturbChoice;
    } else if (k === 'strength') {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 10) throw new RangeError(`HeadSteering: strength must be a number in [0, 10], got ${JSON.stringify(v)}`);
      out.strength = v;
    } else throw new RangeError(`HeadSteering: unknown field '${k}'`);
  }
  return out;
}

export type SteeringAction =
  | { action: 'set'; layer: number; head: number; patch: Partial<SteeringCell> }
  | { action: 'row'; layer: number; patch: Partial<SteeringCell> }
  | { action: 'col'; head: number; patch: Partial<SteeringCell> }
  | { action: 'reset' };

/** The (layer, head) pairs an action touches. */
export function targets(a: SteeringAction, layers: number, heads: number): [number, number][] {
  const inRange = (v: number, n: number, what: string) => {
    if (!Number.isInteger(v) || v < 0 || v >= n) throw new RangeError(`HeadSteering: ${what} ${v} out of range (0..${n - 1})`);
  };
  const all: [number, number][] = [];
  for (let l = 0; l < layers; l++) for (let h = 0; h < heads; h++) all.push([l, h]);
  switch (a.action) {
    case 'set':
      inRange(a.layer, layers, 'layer');
      inRange(a.head, heads, 'head');
      return [[a.layer, a.head]];
    case 'row':
      inRange(a.layer, layers, 'layer');
      return all.filter(([l]) => l === a.layer);
    case 'col':
      inRange(a.head, heads, 'head');
      return all.filter(([, h]) => h === a.head);
    case 'reset':
      return all;
  }
}

export function parseAction(content: Record<string, unknown>): SteeringAction {
  const a = content['action'];
  if (a === 'reset') return { action: 'reset' };
  const patch = checkPatch(content['patch']);
  if (a === 'set') return { action: 'set', layer: Number(content['layer']), head: Number(content['head']), patch };
  if (a === 'row') return { action: 'row', layer: Number(content['layer']), patch };
  if (a === 'col') return { action: 'col', head: Number(content['head']), patch };
  throw new RangeError(`HeadSteering: unknown action ${JSON.stringify(a)}`);
}
