import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CharTokenizer, Transformer, evaluate, loadHFModel } from '@attnlab/models';
import { Rng, tensor } from '@attnlab/tensor';
import { sinkTokenTask } from '../src/streaming-llm/index.js';
import { bigramBackcopy, bigramTransitions, measureSinks, naiveSinkStats, naiveValueNorms, sinkReport, sinkStats, valueNorms } from '../src/sink-metrics/index.js';
import { gaussian, rng } from '../src/common/random.js';
import { maxAbsDiff } from '../src/flash-attention/naive.js';
import { devices } from './util.js';

/** Causal softmax patterns [B, H, N, N]; head h gets a bias of 3h/H on key 0, so some heads are sinks. */
function patterns(seed: number, B: number, H: number, N: number): Float32Array {
  const r = rng(seed);
  const s = gaussian(r, B * H * N * N);
  const p = new Float32Array(B * H * N * N);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < N; i++) {
    const o = ((b * H + h) * N + i) * N;
    const row = Array.from({ length: i + 1 }, (_, j) => s[o + j]! + (j === 0 ? (4 * h) / Math.max(1, H - 1) : 0));
    const m = Math.max(...row);
    const e = row.map((x) => Math.exp(x - m));
    const z = e.reduce((a, x) => a + x, 0);
    e.forEach((x, j) => (p[o + j] = x / z));
  }
  return p;
}

test('sink-metrics: per-head mass and share match the float64 reference on CPU and WebGPU (random shapes, edge sizes, options)', async () => {
  const shapes: [number, number, number][] = [[1, 1, 2], [1, 3, 7], [2, 4, 33], [1, 5, 64], [3, 2, 17]];
  const opts = [{}, { eps: 0.1 }, { eps: 0.5, queryShare: 0.25 }, { sinkIndex: 1 }, { fromQuery: 0, eps: 0.2 }];
  for (const dev of await devices()) {
    for (const [si, [B, H, N]] of shapes.entries()) {
      const a = patterns(si, B, H, N);
      const t = tensor(a, [B, H, N, N], { device: dev });
      for (const o of opts) {
        if ((o.sinkIndex ?? 0) + 1 >= N && o.fromQuery === undefined) continue;
        const got = await sinkStats(t, o);
        const sinkIndex = o.sinkIndex ?? 0;
        const want = naiveSinkStats(a, { B, H, N }, { eps: o.eps ?? 0.3, queryShare: o.queryShare ?? 0.5, sinkIndex, fromQuery: o.fromQuery ?? sinkIndex + 1 });
        assert.ok(maxAbsDiff(got.mass, want.mass) <= 1e-6, `${dev.kind} ${B}x${H}x${N} ${JSON.stringify(o)} mass`);
        assert.ok(maxAbsDiff(got.share, want.share) <= 1e-6, `${dev.kind} ${B}x${H}x${N} ${JSON.stringify(o)} share`);
      }
      const rep = await sinkReport([t, t], {});
      const want = naiveSinkStats(a, { B, H, N }, { eps: 0.3, queryShare: 0.5, sinkIndex: 0, fromQuery: 1 });
      assert.equal(rep.metric, want.sink.filter(Boolean).length / H, `${dev.kind} metric`);
      assert.equal(rep.heads.length, 2 * H);
      t.dispose();
    }
    // Value norms [B, N, H, D].
    for (const [B, N, H, D] of [[1, 1, 1, 1], [2, 9, 3, 5], [1, 40, 4, 32]] as const) {
      const v = gaussian(rng(B * N + D), B * N * H * D);
      const vt = tensor(v, [B, N, H, D], { device: dev });
      const got = await valueNorms(vt, 0);
      const want = naiveValueNorms(v, { B, N, H, D }, 0);
      assert.ok(maxAbsDiff(got.sink, want.sink) <= 1e-5, `${dev.kind} value norm sink`);
      if (N > 1) assert.ok(maxAbsDiff(got.others, want.others) <= 1e-5, `${dev.kind} value norm others`);
      vt.dispose();
    }
  }
  const t = tensor(patterns(1, 1, 2, 5), [1, 2, 5, 5]);
  await assert.rejects(sinkStats(t, { eps: 1.5 }), /sinkMetrics: eps must be in \[0, 1\), got 1.5/);
  await assert.rejects(sinkStats(t, { sinkIndex: 5 }), /sinkIndex 5 is outside the 5 keys/);
  await assert.rejects(sinkStats(tensor(new Float32Array(6), [1, 2, 3])), /pattern must be \[B, H, N, N\], got \[1, 2, 3\]/);
  await assert.rejects(sinkReport([]), /no patterns/);
});

test('sink-metrics: measureSinks on a model equals the reference on its own patterns and values (CPU and WebGPU)', async () => {
  const cfg = { vocabSize: 17, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 32, positional: 'rotary' as const, initStd: 0.3 };
  const rows = [Array.from({ length: 21 }, (_, i) => (i * 3 + 1) % 17), Array.from({ length: 21 }, (_, i) => (i * 7 + 2) % 17)];
  for (const dev of await devices()) {
    const model = new Transformer(cfg, { seed: 9, device: dev });
    const rep = await measureSinks(model, rows, { eps: 0.2 });
    const { logits, cache } = await model.runWithCache(rows, { names: [/hook_pattern$/, /hook_v$/] });
    logits.dispose();
    for (let l = 0; l < 2; l++) {
      const p = (await cache[`blocks.${l}.attn.hook_pattern`]!.data()) as Float32Array;
      const v = (await cache[`blocks.${l}.attn.hook_v`]!.data()) as Float32Array;
      const want = naiveSinkStats(p, { B: 2, H: 2, N: 21 }, { eps: 0.2, queryShare: 0.5, sinkIndex: 0, fromQuery: 1 });
      assert.ok(maxAbsDiff(rep.mass[l]!, want.mass) <= 1e-6, `${dev.kind} layer ${l} mass`);
      assert.ok(maxAbsDiff(rep.share[l]!, want.share) <= 1e-6, `${dev.kind} layer ${l} share`);
      const vn = naiveValueNorms(v, { B: 2, N: 21, H: 2, D: 8 }, 0);
      assert.ok(maxAbsDiff(rep.valueNorm!.sink[l]!, vn.sink) <= 1e-5, `${dev.kind} layer ${l} value norm`);
    }
    assert.ok(rep.valueNorm!.ratio > 0);
  }
  const model = new Transformer(cfg, { seed: 9 });
  await assert.rejects(measureSinks(model, []), /measureSinks: tokens must be a non-empty \[B\]\[N\] array/);
});

test('sink checkpoints (examples/models/sink-*, and char-2l, the text LM F4 and F8 use): each reloads, is under 5 MB, and reproduces its recorded held-out NLL and final sink metric', async () => {
  const root = fileURLToPath(new URL('../../../../', import.meta.url));
  const text = readFileSync(join(root, 'examples/data/moby-dick.txt'), 'utf8');
  const tok = CharTokenizer.fromText(text);
  const textIds = Int32Array.from(tok.encode(text));
  for (const name of ['sink-softmax', 'sink-token', 'sink-sigmoid', 'char-2l']) {
    const dir = join(root, 'examples/models', name);
    assert.ok(statSync(join(dir, 'model.safetensors')).size < 5 * 2 ** 20, `${name} is over 5 MB`);
    const m = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    // The training stream: the text itself, or Bigram-Backcopy over its characters (train-sinks.mjs).
    const ids = m.data.kind === 'backcopy'
      ? bigramBackcopy(bigramTransitions(textIds, tok.vocabSize), tok.vocabSize, { length: textIds.length, triggers: (m.data.triggers as string[]).map((c) => tok.encode(c)[0]!), seed: m.data.seed })
      : textIds;
    const heldOut = ids.subarray(Math.floor(ids.length * 0.9));
    assert.deepEqual(m.tokenizer.chars, tok.chars, `${name}: the alphabet of examples/data/moby-dick.txt`);
    const model = await loadHFModel(dir);
    assert.equal(model.getAttentionChoice(0, 0).name, m.attention);
    const sinkId: number | null = m.tokenizer.sinkToken;
    const task = sinkTokenTask(heldOut, { seqLen: 256, vocabSize: model.config.vocabSize, sinkId });
    const ev = await evaluate(model, task, { batches: m.eval.batches, batchSize: m.eval.batchSize, seed: m.eval.seed });
    assert.ok(Math.abs(ev.nll - m.eval.nll) < 2e-3, `${name}: held-out nll ${ev.nll} vs recorded ${m.eval.nll}`);
    // The snapshot rows of train-sinks.mjs: four held-out windows from Rng(777).
    const r = new Rng(777);
    const textLen = sinkId === null ? 256 : 255;
    const rows = Array.from({ length: m.sinks.rows as number }, () => {
      const s = r.int(heldOut.length - textLen);
      const row = Array.from(heldOut.subarray(s, s + textLen));
      return sinkId === null ? row : [sinkId, ...row];
    });
    const rep = await measureSinks(model, rows);
    assert.equal(rep.metric, m.sinks.final.metric, `${name}: sink metric`);
    assert.ok(maxAbsDiff(rep.mass.flat(), (m.sinks.final.mass as number[][]).flat()) <= 1e-4, `${name}: per-head mass`);
    const snaps = m.sinks.snapshots as { step: number; metric: number }[];
    assert.equal(snaps[0]!.step, 0);
    // Short-window stages (train-sinks.mjs's curriculum) and a continued checkpoint's earlier steps come first.
    const stageSteps = ((m.stages ?? []) as { steps: number }[]).reduce((a, st) => a + st.steps, 0);
    assert.equal(snaps.at(-1)!.step, (m.stepBase ?? 0) + stageSteps + m.train.steps, `${name}: the curve reaches the last step`);
  }
});
