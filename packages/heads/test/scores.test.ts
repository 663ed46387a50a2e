/**
 * Every head score against a float64 loop over the same patterns (read back from runWithCache),
 * written from the definitions independently of selections.ts, on CPU and WebGPU, with edge sizes.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng, tensor } from '@attnlab/tensor';
import { computeScore } from '@attnlab/models';
import { attnlabPlugin, headScores, registerScores, scorePlot, scoresFromPatterns, SCORE_NAMES, HeadsError } from '../src/index.js';
import { close, devices, randomModel, repeatRows } from './util.js';

type Naive = Record<string, number[][]>;

/** Float64 scores from patterns [L][B*H*N*N] and tokens, straight from the definitions. */
function naiveScores(pat: Float32Array[], rows: number[][], H: number, predicted: ArrayLike<number>): Naive {
  const B = rows.length;
  const N = rows[0]!.length;
  const out: Naive = {};
  for (const n of SCORE_NAMES) out[n] = pat.map(() => new Array<number>(H).fill(0));
  pat.forEach((P, l) => {
    for (let h = 0; h < H; h++) {
      const acc: Record<string, [number, number]> = Object.fromEntries(SCORE_NAMES.map((n) => [n, [0, 0]]));
      for (let b = 0; b < B; b++) {
        const r = rows[b]!;
        for (let q = 0; q < N; q++) {
          const a = (k: number): number => P[((b * H + h) * N + q) * N + k]!;
          if (q >= 1) { acc['previous-token']![0] += a(q - 1); acc['previous-token']![1]++; }
          const prev = [...Array(q).keys()].filter((j) => r[j] === r[q]);
          if (prev.length) {
            acc['duplicate-token']![0] += prev.reduce((s, j) => s + a(j), 0); acc['duplicate-token']![1]++;
            acc['induction']![0] += prev.reduce((s, j) => s + a(j + 1), 0); acc['induction']![1]++;
          }
          acc['sink-mass']![0] += a(0); acc['sink-mass']![1]++;
          let e = 0;
          for (let k = 0; k <= q; k++) if (a(k) > 0) e -= a(k) * Math.log(a(k));
          acc['attention-entropy']![0] += e; acc['attention-entropy']![1]++;
          if (q + 1 < N && predicted[b * N + q] === r[q + 1] && r.slice(0, q + 1).includes(r[q + 1]!)) {
            let top = 0;
            for (let k = 1; k < N; k++) if (a(k) > a(top)) top = k;
            acc['retrieval']![1]++;
            if (r[top] === r[q + 1]) acc['retrieval']![0]++;
          }
        }
      }
      for (const n of SCORE_NAMES) out[n]![l]![h] = acc[n]![1] ? acc[n]![0] / acc[n]![1] : Number.NaN;
    }
  });
  return out;
}

const CASES = [
  { B: 1, N: 1, V: 5 },
  { B: 3, N: 7, V: 4 },
  { B: 2, N: 13, V: 6 },
  { B: 4, N: 20, V: 9 },
];

test('head scores match a float64 computation from the patterns (CPU and WebGPU, edge sizes)', async () => {
  for (const dev of await devices()) {
    const tol = dev.kind === 'cpu' ? 1e-5 : 1e-4;
    for (const [ci, c] of CASES.entries()) {
      const H = 3;
      const model = randomModel({ vocabSize: c.V, dModel: 12, nLayers: 2, nHeads: H, attnOnly: true, nCtx: 32 }, 100 + ci, dev);
      const rows = repeatRows(new Rng(200 + ci), c.B, c.N, c.V);
      const { logits, cache } = await model.runWithCache(rows, { names: [/hook_pattern$/] });
      const pats = [await cache['blocks.0.attn.hook_pattern']!.data(), await cache['blocks.1.attn.hook_pattern']!.data()] as Float32Array[];
      const { argmax } = await import('@attnlab/tensor');
      const predicted = await argmax(logits, -1).data();
      const want = naiveScores(pats, rows, H, predicted);
      const got = await headScores(model, rows);
      for (const n of SCORE_NAMES) {
        const g = (await got[n]!.array()) as number[][];
        assert.deepEqual(got[n]!.shape, [2, H], `${n} shape`);
        g.forEach((row, l) => row.forEach((v, h) => assert.ok(close(v, want[n]![l]![h]!, tol), `${dev.kind} case ${ci} (B=${c.B}, N=${c.N}) ${n} L${l}H${h}: ${v} vs float64 ${want[n]![l]![h]}`)));
      }
    }
  }
});

test('retrieval counts every copy step when requireCorrect is false; scoresFromPatterns checks shapes', async () => {
  const dev = (await devices())[0]!;
  const model = randomModel({ vocabSize: 6, dModel: 12, nLayers: 2, nHeads: 3, attnOnly: true, nCtx: 32 }, 5, dev);
  const rows = repeatRows(new Rng(9), 3, 11, 6);
  const { cache } = await model.runWithCache(rows, { names: [/hook_pattern$/] });
  const pats = [cache['blocks.0.attn.hook_pattern']!, cache['blocks.1.attn.hook_pattern']!];
  // predicted = the targets themselves: every copy step counts.
  const targets = Int32Array.from(rows.flatMap((r) => r.map((_, i) => (i + 1 < r.length ? r[i + 1]! : -1))));
  const all = scoresFromPatterns(pats, rows, ['retrieval'], targets)['retrieval']!;
  const free = (await headScores(model, rows, ['retrieval'], { requireCorrect: false }))['retrieval']!;
  assert.deepEqual(await all.data(), await free.data());
  assert.throws(() => scoresFromPatterns(pats, rows.slice(0, 2), ['retrieval']), /pattern of layer 0 is \[3, 3, 11, 11\], expected \[2, H, 11, 11\]/);
  assert.throws(() => scoresFromPatterns(pats, rows, ['nope']), /unknown score 'nope'/);
  await assert.rejects(headScores(model, [[1, 2], [3]]), (e: Error) => e instanceof HeadsError && /row 1 has 1 tokens, row 0 has 2/.test(e.message));
});

test('the plugin registers every score; computeScore checks [layers, heads]; scorePlot labels the grid', async () => {
  const names: string[] = [];
  attnlabPlugin.activate({ registerScore: (n) => void names.push(n) });
  // The pattern scores and the OV copying scores (other method folders may register more after them).
  for (const n of [...SCORE_NAMES, 'copying', 'copying-top1']) assert.ok(names.includes(n), `${n} is not registered (got ${names.join(', ')})`);
  const reg = registerScores();
  try {
    const dev = (await devices())[0]!;
    const model = randomModel({ vocabSize: 6, dModel: 12, nLayers: 2, nHeads: 3, attnOnly: true, nCtx: 32 }, 5, dev);
    const rows = repeatRows(new Rng(3), 2, 9, 6);
    const viaRegistry = await computeScore('induction', model, { prompts: rows });
    assert.deepEqual(await viaRegistry.data(), await (await headScores(model, rows, ['induction']))['induction']!.data());
    await assert.rejects(computeScore('induction', model, {}), /options.prompts is required/);
    const fig = await scorePlot(viaRegistry, { title: 'induction' });
    const spec = fig.toJSON() as unknown as { data: { z: number[][] }[]; layout: { yaxis: { ticktext: string[] } } };
    assert.deepEqual(spec.layout.yaxis.ticktext, ['L0', 'L1']);
    await assert.rejects(scorePlot(tensor(new Float32Array(3), [3])), /expected a \[layers, heads\] score, got \[3\]/);
  } finally {
    reg.dispose();
  }
});
