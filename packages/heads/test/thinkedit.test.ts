/**
 * ThinkEdit: the W_O projection against float64 (no component along the direction is left, other
 * heads and parameters untouched, restore bit-exact), directions and alignments against float64
 * sums over runWithCache activations, and the exact length distribution against the model's own
 * next-token probabilities, on CPU and WebGPU.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng, softmax } from '@attnlab/tensor';
import type { Transformer } from '@attnlab/models';
import { HeadsError, thinkedit } from '../src/index.js';
import { devices, randomModel } from './util.js';

const cfg = { vocabSize: 13, dModel: 10, nLayers: 3, nHeads: 3, dHead: 2, dMlp: 16, nCtx: 16, positional: 'rotary' as const };
const rowsOf = (rng: Rng, B: number, N: number): number[][] => Array.from({ length: B }, () => Array.from({ length: N }, () => rng.int(13)));

async function state(model: Transformer): Promise<Map<string, Float32Array>> {
  return new Map([...(await model.stateDict())].map(([k, v]) => [k, v.data]));
}

function unitDirs(rng: Rng, L: number, D: number): thinkedit.BehaviourDirections {
  const directions = Array.from({ length: L }, () => {
    const d = Float64Array.from({ length: D }, () => rng.normal());
    const n = Math.hypot(...d);
    return d.map((x) => x / n);
  });
  return { directions, norms: directions.map(() => 1) };
}

test('projectOutOfWO: edited W_O rows = float64 (I - dd^T) projection with no component left along d; others untouched; restore bit-exact', async () => {
  for (const dev of await devices()) {
    const model = randomModel(cfg, 21, dev);
    const { nHeads: H, dHead: Dh, dModel: D } = model.config;
    const dirs = unitDirs(new Rng(5), cfg.nLayers, D);
    const before = await state(model);
    const heads = [{ layer: 0, head: 1 }, { layer: 2, head: 0 }, { layer: 2, head: 2 }];
    const edit = await thinkedit.projectOutOfWO(model, heads, dirs);
    assert.equal(edit.paramsTouched, 3 * Dh * D);
    assert.equal(edit.headFraction, 3 / 9);
    assert.ok(Math.abs(edit.paramFraction - (3 * Dh * D) / model.numParams) < 1e-15);
    const after = await state(model);
    for (const [name, w] of before) {
      const m = /^h\.(\d+)\.attn\.c_proj\.weight$/.exec(name);
      const e = after.get(name)!;
      for (let r = 0; r < (m ? H * Dh : 1); r++) {
        const head = Math.floor(r / Dh);
        const edited = m && heads.some((s) => s.layer === Number(m[1]) && s.head === head);
        if (!m || !edited) {
          if (!m) assert.deepEqual(e, w, `${dev.kind}: ${name} changed`);
          else assert.deepEqual(e.subarray(r * D, (r + 1) * D), w.subarray(r * D, (r + 1) * D), `${dev.kind}: ${name} row ${r} (head ${head}, not edited) changed`);
          continue;
        }
        const d = dirs.directions[Number(m[1])]!;
        let c = 0;
        for (let j = 0; j < D; j++) c += w[r * D + j]! * d[j]!;
        let left = 0;
        for (let j = 0; j < D; j++) {
          const want = w[r * D + j]! - c * d[j]!;
          assert.ok(Math.abs(e[r * D + j]! - want) < 1e-7, `${dev.kind}: ${name}[${r}, ${j}] ${e[r * D + j]} vs float64 ${want}`);
          left += e[r * D + j]! * d[j]!;
        }
        assert.ok(Math.abs(left) < 1e-6, `${dev.kind}: ${name} row ${r} still has ${left} along d`);
      }
    }
    edit.restore();
    assert.deepEqual(await state(model), before, `${dev.kind}: restore is not bit-exact`);
    await assert.rejects(thinkedit.projectOutOfWO(model, [], dirs), /heads is empty/);
    await assert.rejects(thinkedit.projectOutOfWO(model, [{ layer: 3, head: 0 }], dirs), (e: Error) => e instanceof HeadsError && /outside the model/.test(e.message));
    await assert.rejects(thinkedit.projectOutOfWO(model, [heads[0]!, heads[0]!], dirs), /listed twice/);
    await assert.rejects(thinkedit.projectOutOfWO(model, heads, { directions: dirs.directions.slice(1), norms: [] }), /one per layer/);
  }
});

test('behaviourDirections and headAlignment = float64 weighted means of runWithCache activations; an edited head writes nothing along d (CPU and WebGPU, N 1 and 5)', async () => {
  for (const dev of await devices()) {
    for (const N of [1, 5]) {
      const model = randomModel(cfg, 30 + N, dev);
      const { nLayers: L, nHeads: H, dModel: D, dHead: Dh } = model.config;
      const rng = new Rng(8 + N);
      const rows = rowsOf(rng, 3, N);
      const positive = Float32Array.from({ length: 3 * N }, () => (rng.uniform() < 0.5 ? rng.int(3) + 1 : 0));
      positive[0] = 1;
      const negative = Float32Array.from({ length: 3 * N }, (_, i) => (positive[i] ? 0 : 1));
      negative[N * 3 - 1] = 2;
      const dirs = await thinkedit.behaviourDirections(model, { prompts: rows, positive, negative });
      const { cache } = await model.runWithCache(rows);
      for (let l = 0; l < L; l++) {
        const x = (await cache[`blocks.${l}.hook_resid_post`]!.data()) as Float32Array;
        const mean = (w: Float32Array): Float64Array => {
          const s = w.reduce((a, b) => a + b, 0);
          const o = new Float64Array(D);
          w.forEach((wi, i) => { for (let d = 0; d < D; d++) o[d]! += (wi * x[i * D + d]!) / s; });
          return o;
        };
        const p = mean(positive);
        const q = mean(negative);
        const diff = p.map((v, i) => v - q[i]!);
        const n = Math.hypot(...diff);
        assert.ok(Math.abs(dirs.norms[l]! - n) < 1e-4 * Math.max(1, n), `${dev.kind} N=${N} L${l}: norm ${dirs.norms[l]} vs ${n}`);
        diff.forEach((v, i) => assert.ok(Math.abs(dirs.directions[l]![i]! - v / n) < 1e-4, `${dev.kind} N=${N} L${l}[${i}]`));
      }
      const align = await thinkedit.headAlignment(model, rows, positive, dirs);
      const tot = positive.reduce((a, b) => a + b, 0);
      for (let l = 0; l < L; l++) {
        const z = (await cache[`blocks.${l}.attn.hook_z`]!.data()) as Float32Array; // [B, N, H, Dh]
        const wo = (await model.param(`h.${l}.attn.c_proj.weight`).data()) as Float32Array; // [H*Dh, D]
        const d = dirs.directions[l]!;
        for (let h = 0; h < H; h++) {
          let want = 0;
          for (let i = 0; i < 3 * N; i++) {
            if (!positive[i]) continue;
            for (let k = 0; k < Dh; k++) {
              let wd = 0;
              for (let j = 0; j < D; j++) wd += wo[(h * Dh + k) * D + j]! * d[j]!;
              want += (positive[i]! / tot) * z[(i * H + h) * Dh + k]! * wd;
            }
          }
          assert.ok(Math.abs(align[l]![h]! - want) < 1e-4 * Math.max(1, Math.abs(want)), `${dev.kind} N=${N} L${l}H${h}: ${align[l]![h]} vs float64 ${want}`);
        }
      }
      const edit = await thinkedit.projectOutOfWO(model, [{ layer: 1, head: 2 }], dirs);
      const after = await thinkedit.headAlignment(model, rows, positive, dirs);
      assert.ok(Math.abs(after[1]![2]!) < 1e-5, `${dev.kind}: edited head still writes ${after[1]![2]} along d`);
      edit.restore();
      await assert.rejects(thinkedit.behaviourDirections(model, { prompts: rows, positive: new Float32Array(3 * N), negative }), /selects no position/);
      await assert.rejects(thinkedit.behaviourDirections(model, { prompts: rows, positive: positive.subarray(1), negative }), /weights/);
    }
  }
});

test('lengthDistribution: hazards are the model\'s own P(END)/(P(END)+P(STEP)); the pmf sums to 1; lengthSplit weights count draws', async () => {
  for (const dev of await devices()) {
    const o = { bos: 0, pad: 1, go: 2, step: 3, end: 4, topicFirst: 5, topics: 3, minSteps: 1, maxSteps: 4, seqLen: 8, vocabSize: 13 };
    const model = randomModel(cfg, 44, dev);
    const dist = await thinkedit.lengthDistribution(model, o);
    const rows = thinkedit.lengthPrompts(o);
    const p = (await softmax(await model.run(rows), -1).data()) as Float32Array;
    rows.forEach((_, b) => {
      for (let j = 0; j < o.seqLen - 3; j++) {
        const at = (b * o.seqLen + 2 + j) * 13;
        const want = p[at + o.end]! / (p[at + o.end]! + p[at + o.step]!);
        assert.ok(Math.abs(dist.hazard[b]![j]! - want) < 1e-6, `${dev.kind} row ${b} step ${j}`);
      }
      assert.ok(Math.abs(dist.pmf[b]!.reduce((a, x) => a + x, 0) - 1) < 1e-9);
    });
    const split = thinkedit.lengthSplit(dist, o, 40, 3, { matchPositions: false });
    let shortDraws = 0;
    split.lengths.forEach((ls, b) => ls.forEach((len) => {
      if (len < split.median) shortDraws++;
      assert.ok(len >= 0 && len <= o.seqLen - 3, `row ${b}: length ${len}`);
    }));
    // Every short draw passes through its first decision (position 2).
    const atFirst = split.lengths.reduce((s, _, b) => s + split.short[b * o.seqLen + 2]!, 0);
    assert.equal(atFirst, shortDraws);
    // Position-matched: at each position both groups weigh 1 in total, or both 0.
    const m = thinkedit.lengthSplit(dist, o, 40, 3);
    assert.deepEqual(m.lengths, split.lengths);
    for (let i = 0; i < o.seqLen; i++) {
      let ss = 0;
      let sl = 0;
      for (let b = 0; b < rows.length; b++) (ss += m.short[b * o.seqLen + i]!), (sl += m.long[b * o.seqLen + i]!);
      assert.ok((Math.abs(ss - 1) < 1e-6 && Math.abs(sl - 1) < 1e-6) || (ss === 0 && sl === 0), `position ${i}: ${ss} vs ${sl}`);
    }
    assert.ok(m.short[2]! > 0 || m.short[o.seqLen + 2]! > 0);
    // Topic ranges: each row's length lies in its topic's range.
    const t = thinkedit.lengthTask({ ...o, topicSteps: [[1, 1], [2, 3], [4, 4]] }).sample(new Rng(1), 30);
    for (let b = 0; b < 30; b++) {
      const row = Array.from(t.tokens.subarray(b * 8, (b + 1) * 8));
      const k = row.filter((x) => x === o.step).length;
      assert.ok(k >= [1, 2, 4][row[2]! - 5]! && k <= [1, 3, 4][row[2]! - 5]!, `row ${b}: topic ${row[2]! - 5}, ${k} steps`);
      assert.equal(row[3 + k], o.end);
    }
    assert.throws(() => thinkedit.lengthTask({ ...o, topicSteps: [[1, 2]] }), /topicSteps has 1 ranges for 3 topics/);
    assert.throws(() => thinkedit.lengthTask({ ...o, seqLen: 5 }), /seqLen 5 < maxSteps \+ 4/);
  }
});
