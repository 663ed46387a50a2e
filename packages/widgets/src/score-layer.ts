/**
 * DOM-free logic of a head-score colour layer, shared by the kernel side (HeadSteering,
 * SweepResult) and their views: reading a [layers, heads] score, its range, and the colour of a
 * value on a sequential or diverging scale. JSON has no NaN, so a missing value is null.
 */

/** A [layers, heads] tensor (structurally: @attnlab/tensor's Tensor) or nested rows. */
export interface TensorLike {
  readonly shape: readonly number[];
  data(): Promise<ArrayLike<number>>;
}
export type ScoreValues = TensorLike | readonly (readonly number[])[] | ArrayLike<number>;

/**
 * Where HeadSteering finds scores by name. With @attnlab/models' registry:
 * `{ names: listScores, compute: (n) => computeScore(n, model, { prompts }) }`.
 */
export interface ScoreSource {
  names(): readonly string[];
  compute(name: string): Promise<ScoreValues> | ScoreValues;
  describe?(name: string): string | undefined;
}

function isTensorLike(v: unknown): v is TensorLike {
  return typeof v === 'object' && v !== null && typeof (v as TensorLike).data === 'function' && Array.isArray((v as TensorLike).shape);
}

/** Row-major L*H values (null where not finite); the error names the shape that was expected. */
export async function readScore(v: ScoreValues, layers: number, heads: number, who: string): Promise<(number | null)[]> {
  let flat: ArrayLike<number>;
  if (isTensorLike(v)) {
    if (v.shape.length !== 2 || v.shape[0] !== layers || v.shape[1] !== heads) throw new RangeError(`${who}: score has shape [${v.shape.join(', ')}], expected [${layers}, ${heads}] (layers, heads)`);
    flat = await v.data();
  } else if (Array.isArray(v) && v.length > 0 && Array.isArray(v[0])) {
    const rows = v as readonly (readonly number[])[];
    if (rows.length !== layers || rows.some((r) => r.length !== heads)) throw new RangeError(`${who}: score rows are ${rows.length} x [${rows.map((r) => r.length).join(', ')}], expected ${layers} rows of ${heads}`);
    flat = rows.flat();
  } else if (v && typeof (v as ArrayLike<number>).length === 'number') {
    flat = v as ArrayLike<number>;
    if (flat.length !== layers * heads) throw new RangeError(`${who}: score has ${flat.length} values, expected ${layers} x ${heads} = ${layers * heads}`);
  } else {
    throw new TypeError(`${who}: a score must be a [layers, heads] tensor, rows of numbers or a flat array`);
  }
  return Array.from({ length: layers * heads }, (_, i) => {
    const x = Number(flat[i]);
    return Number.isFinite(x) ? x : null;
  });
}

/** [min, max] of the values present, or null when there is none. */
export function scoreRange(values: readonly (number | null)[]): [number, number] | null {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (v === null) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return lo <= hi ? [lo, hi] : null;
}

type RGB = [number, number, number];
// Viridis at five stops (sequential), and blue-white-red (diverging about 0).
const SEQUENTIAL: RGB[] = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const DIVERGING: RGB[] = [[33, 102, 172], [247, 247, 247], [178, 24, 43]];

function along(stops: RGB[], t: number): string {
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i]!.map((a, k) => Math.round(a + (stops[i + 1]![k]! - a) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** A range crossing 0 is drawn diverging and symmetric about 0, else sequential from min to max. */
export function isDiverging(range: readonly [number, number]): boolean {
  return range[0] < 0 && range[1] > 0;
}

/** The colour of a value in a range (grey for a missing value; a flat range is mid-scale). */
export function scoreColor(v: number | null, range: readonly [number, number] | null): string {
  if (v === null || !range) return 'rgb(200, 200, 200)';
  if (isDiverging(range)) {
    const m = Math.max(-range[0], range[1]);
    return along(DIVERGING, (v / m + 1) / 2);
  }
  const [lo, hi] = range;
  return along(SEQUENTIAL, hi > lo ? (v - lo) / (hi - lo) : 0.5);
}

/** `n` legend stops from the low to the high end of the drawn scale: value and colour. */
export function legendStops(range: readonly [number, number], n = 5): { value: number; color: string }[] {
  const [lo, hi] = isDiverging(range) ? [-Math.max(-range[0], range[1]), Math.max(-range[0], range[1])] : range;
  return Array.from({ length: n }, (_, i) => {
    const value = n === 1 ? lo : lo + ((hi - lo) * i) / (n - 1);
    return { value, color: scoreColor(value, range) };
  });
}

/** Black or white, whichever reads better on an `rgb(r, g, b)` background (relative luminance). */
export function textColorOn(background: string): 'black' | 'white' {
  const m = /^rgb\((\d+), (\d+), (\d+)\)$/.exec(background);
  if (!m) return 'black';
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const y = 0.2126 * lin(Number(m[1])) + 0.7152 * lin(Number(m[2])) + 0.0722 * lin(Number(m[3]));
  return y < 0.22 ? 'white' : 'black';
}
