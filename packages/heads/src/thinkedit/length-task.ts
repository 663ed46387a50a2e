/**
 * A toy task whose output length varies (F12.5): BOS GO topic STEP×k END PAD…, with k drawn
 * uniformly from the topic's range (`topicSteps[t]`, default [minSteps, maxSteps] for every topic):
 * some prompts call for short outputs, others for long ones, and the ranges overlap. A trained
 * model emits STEP until it samples END, so its output length is a distribution set by its own
 * stop hazard h_j = P(END | j steps so far); `lengthDistribution` reads it exactly from one forward.
 * The topic reaches the later decisions only through attention heads: the circuit ThinkEdit edits.
 */
import { Rng, noGrad, scope, softmax, type Tensor } from '@attnlab/tensor';
import type { Batch, Task, Transformer } from '@attnlab/models';
import { HeadsError } from '../errors.js';

export interface LengthTaskOptions {
  /** Token ids (they may be shared with another task of the same model, e.g. BOS and PAD). */
  bos: number;
  pad: number;
  go: number;
  step: number;
  end: number;
  /** Topic tokens [topicFirst, topicFirst + topics): prompt variety, no effect on the length. */
  topicFirst: number;
  topics: number;
  minSteps?: number;
  maxSteps?: number;
  /** Per topic, its [min, max] number of steps (overrides minSteps/maxSteps). */
  topicSteps?: readonly (readonly [number, number])[];
  seqLen: number;
  vocabSize: number;
}

function check(o: LengthTaskOptions): { min: number; max: number; ranges: [number, number][] } {
  const who = 'lengthTask';
  if (o.topicSteps && o.topicSteps.length !== o.topics) throw new HeadsError(who, `topicSteps has ${o.topicSteps.length} ranges for ${o.topics} topics`);
  const ranges: [number, number][] = Array.from({ length: o.topics }, (_, t) => (o.topicSteps ? [o.topicSteps[t]![0], o.topicSteps[t]![1]] : [o.minSteps ?? 1, o.maxSteps ?? 10]));
  const min = Math.min(...ranges.map((r) => r[0]));
  const max = Math.max(...ranges.map((r) => r[1]));
  for (const [a, b] of ranges) if (!Number.isInteger(a) || !Number.isInteger(b) || a < 1 || b < a) throw new HeadsError(who, `need integer step ranges 1 <= min <= max, got [${a}, ${b}]`);
  for (const k of ['bos', 'pad', 'go', 'step', 'end', 'topicFirst'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0 || o[k] >= o.vocabSize) throw new HeadsError(who, `${k} must be a token id in [0, ${o.vocabSize}), got ${o[k]}`);
  }
  if (!Number.isInteger(o.topics) || o.topics < 1 || o.topicFirst + o.topics > o.vocabSize) throw new HeadsError(who, `topics ${o.topics} from ${o.topicFirst} do not fit vocabSize ${o.vocabSize}`);
  if (o.seqLen < max + 4) throw new HeadsError(who, `seqLen ${o.seqLen} < maxSteps + 4 = ${max + 4}`);
  return { min, max, ranges };
}

/** The training task. */
export function lengthTask(o: LengthTaskOptions): Task {
  const { min, max, ranges } = check(o);
  const N = o.seqLen;
  return {
    name: 'variable-length',
    vocabSize: o.vocabSize,
    seqLen: N,
    params: { ...o, minSteps: min, maxSteps: max, topicSteps: ranges },
    sample(rng: Rng, B: number): Batch {
      const n = B * N;
      const out: Batch = { batchSize: B, seqLen: N, tokens: new Int32Array(n).fill(o.pad), targets: new Int32Array(n).fill(o.pad), lossMask: new Float32Array(n), evalMask: new Float32Array(n) };
      for (let b = 0; b < B; b++) {
        const r = b * N;
        const t = rng.int(o.topics);
        const [a, z] = ranges[t]!;
        const k = a + rng.int(z - a + 1);
        out.tokens[r] = o.bos;
        out.tokens[r + 1] = o.go;
        out.tokens[r + 2] = o.topicFirst + t;
        for (let j = 0; j < k; j++) out.tokens[r + 3 + j] = o.step;
        out.tokens[r + 3 + k] = o.end;
        for (let i = 0; i + 1 < N; i++) out.targets[r + i] = out.tokens[r + i + 1]!;
        // Loss and evaluation on each STEP/END decision (positions 2 .. 2 + k).
        for (let i = 2; i <= 2 + k; i++) out.lossMask[r + i] = out.evalMask[r + i] = 1;
      }
      return out;
    },
  };
}

/** Prompts for the length measurement: BOS GO topic STEP×(maxSteps + 1 - ...) filled to seqLen. */
export function lengthPrompts(o: LengthTaskOptions): number[][] {
  check(o);
  return Array.from({ length: o.topics }, (_, t) => [o.bos, o.go, o.topicFirst + t, ...Array.from({ length: o.seqLen - 3 }, () => o.step)]);
}

export interface LengthDistribution {
  /** Per prompt row: hazard[j] = P(END | j STEPs emitted), renormalised over {STEP, END}. */
  hazard: number[][];
  /** Per prompt row: P(length = j) for j = 0 .. maxLen (the last entry is the mass beyond). */
  pmf: number[][];
  /** Expected number of STEPs before END, averaged over prompt rows (truncated at maxLen). */
  meanLength: number;
  /** Greedy decoding's length per row (first j with P(END) > P(STEP)); maxLen when never. */
  greedy: number[];
  /** Largest probability mass any decision puts outside {STEP, END}. */
  offTaskMass: number;
}

/**
 * The exact output-length distribution under sampling at temperature 1: the prompts are
 * BOS GO topic STEP STEP …, so position 2 + j holds the decision after j STEPs, and one causal
 * forward gives every hazard. No sampling noise; what the model would do token by token.
 */
export async function lengthDistribution(model: Transformer, o: LengthTaskOptions): Promise<LengthDistribution> {
  const rows = lengthPrompts(o);
  const N = o.seqLen;
  const V = o.vocabSize;
  const maxLen = N - 3;
  const probs = (await noGrad(() => scope(async () => {
    const logits: Tensor = await model.run(rows);
    return softmax(logits, -1).data();
  }))) as Float32Array;
  let offTaskMass = 0;
  const hazard = rows.map((_, b) => Array.from({ length: maxLen }, (_, j) => {
    const base = (b * N + 2 + j) * V;
    const pe = probs[base + o.end]!;
    const ps = probs[base + o.step]!;
    offTaskMass = Math.max(offTaskMass, 1 - pe - ps);
    return pe / (pe + ps);
  }));
  const pmf = hazard.map((h) => {
    const p: number[] = [];
    let alive = 1;
    for (const x of h) {
      p.push(alive * x);
      alive *= 1 - x;
    }
    p.push(alive);
    return p;
  });
  const meanLength = pmf.reduce((s, p) => s + p.reduce((a, x, j) => a + x * j, 0), 0) / pmf.length;
  const greedy = hazard.map((h) => {
    const j = h.findIndex((x) => x > 0.5);
    return j < 0 ? maxLen : j;
  });
  return { hazard, pmf, meanLength, greedy, offTaskMass };
}

export interface LengthSplit {
  /** Lengths drawn from the model's distribution, per prompt row. */
  lengths: number[][];
  /** The median drawn length: short = below it, long = above it. */
  median: number;
  /** [rows * seqLen] weights of each decision position in the short (long) mean. */
  short: Float32Array;
  long: Float32Array;
}

/**
 * ThinkEdit's two behaviours on the length task: draw `samples` outputs per prompt from the
 * model's exact length distribution (seeded), split them at the median into short and long, and
 * weight each decision position (2 … 2 + length) by how many draws of each group pass through it.
 * With `matchPositions` (default) the weights are normalised per position over the rows and only
 * positions both groups reach are kept, so each position weighs the same in both means and the
 * direction is not simply "later in the output" (short outputs only have early positions).
 */
export function lengthSplit(dist: LengthDistribution, o: LengthTaskOptions, samples: number, seed: number, options: { matchPositions?: boolean } = {}): LengthSplit {
  if (!Number.isInteger(samples) || samples < 2) throw new HeadsError('lengthSplit', `samples must be an integer >= 2, got ${samples}`);
  const N = o.seqLen;
  const B = dist.pmf.length;
  const rng = new Rng(seed);
  const lengths = dist.pmf.map((p) => Array.from({ length: samples }, () => {
    let u = rng.uniform();
    for (let j = 0; j < p.length; j++) if ((u -= p[j]!) < 0) return j;
    return p.length - 1;
  }));
  const all = lengths.flat().sort((a, b) => a - b);
  const median = all[Math.floor(all.length / 2)]!;
  const short = new Float32Array(B * N);
  const long = new Float32Array(B * N);
  lengths.forEach((ls, b) => ls.forEach((len) => {
    const w = len < median ? short : len > median ? long : null;
    if (w) for (let i = 2; i <= Math.min(2 + len, N - 1); i++) w[b * N + i]! += 1;
  }));
  if (options.matchPositions ?? true) {
    for (let i = 0; i < N; i++) {
      let ss = 0;
      let sl = 0;
      for (let b = 0; b < B; b++) (ss += short[b * N + i]!), (sl += long[b * N + i]!);
      for (let b = 0; b < B; b++) {
        short[b * N + i] = ss > 0 && sl > 0 ? short[b * N + i]! / ss : 0;
        long[b * N + i] = ss > 0 && sl > 0 ? long[b * N + i]! / sl : 0;
      }
    }
  }
  return { lengths, median, short, long };
}
