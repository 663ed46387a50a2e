/**
 * VHD against a float64 forward (head outputs z from ref64's attention-only model, distances from
 * the definitions) on CPU and WebGPU with edge sizes; VHR gates (γ = 1 bit-exact, γ ≠ 1 equal to
 * scaling z by hand, restore); the conflict task's rows.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { mul, Rng, tensor, type Tensor } from '@attnlab/tensor';
import { computeScore, type HookContext, type Transformer } from '@attnlab/models';
import { HeadsError, registerScores, vhd } from '../src/index.js';
import { devices, randomModel } from './util.js';
import { attnOnlyRef64, fullRef, type Mat } from './ref64.js';

const cfg = { vocabSize: 11, dModel: 12, nLayers: 2, nHeads: 3, attnOnly: true, nCtx: 16 };
const rowsOf = (rng: Rng, B: number, N: number): number[][] => Array.from({ length: B }, () => Array.from({ length: N }, () => rng.int(11)));

/** z[b][l][h] = rows of head (l, h) in float64. */
async function z64(model: Transformer, rows: number[][]): Promise<Mat[][][]> {
  const out: Mat[][][] = rows.map(() => Array.from({ length: cfg.nLayers }, () => []));
  let b = -1;
  await attnOnlyRef64(model, rows, (l, h, Q, K, V, s) => {
    if (l === 0 && h === 0) b++;
    const o = fullRef(Q, K, V, s);
    out[b]![l]![h] = o;
    return o;
  });
  return out;
}

function vhdRef(za: Mat[][][], zb: Mat[][][], positions: number[], N: number, distance: 'l2' | 'cosine'): number[][] {
  const norm = (x: Float64Array): number => Math.sqrt(x.reduce((s, v) => s + v * v, 0));
  return Array.from({ length: cfg.nLayers }, (_, l) => Array.from({ length: cfg.nHeads }, (_, h) => {
    let s = 0;
    let n = 0;
    za.forEach((_, b) => {
      for (let i = 0; i < N; i++) {
        if (!positions[b * N + i]) continue;
        const a = za[b]![l]![h]![i]!;
        const c = zb[b]![l]![h]![i]!;
        const diff = a.map((v, d) => v - c[d]!);
        const dist = distance === 'l2'
          ? norm(diff) / (norm(a) + norm(c) + 1e-12)
          : 1 - a.reduce((t, v, d) => t + v * c[d]!, 0) / (norm(a) * norm(c) + 1e-12);
        s += dist;
        n++;
      }
    });
    return s / n;
  }));
}

test('vhdScores = float64 mean distance of head outputs with vs without context (l2 and cosine, CPU and WebGPU, N 1, 2, 7)', async () => {
  for (const dev of await devices()) {
    for (const N of [1, 2, 7]) {
      const rng = new Rng(100 + N);
      const model = randomModel({ ...cfg, positional: 'learned' }, 3 + N, dev);
      const B = 3;
      const rows = rowsOf(rng, B, N);
      // The ∅ run: the first half of each row (the "context") replaced by token 0.
      const nul = rows.map((r) => r.map((t, i) => (i < Math.floor(N / 2) ? 0 : t)));
      const positions = Array.from({ length: B * N }, (_, i) => (i % N === N - 1 || rng.uniform() < 0.4 ? 1 : 0));
      const prompts = { batchSize: B, seqLen: N, tokens: Int32Array.from(rows.flat()), positions };
      const nullPrompts = { batchSize: B, seqLen: N, tokens: Int32Array.from(nul.flat()) };
      const za = await z64(model, rows);
      const zb = await z64(model, nul);
      for (const distance of ['l2', 'cosine'] as const) {
        const got = (await (await vhd.vhdScores(model, { prompts, nullPrompts, distance })).array()) as number[][];
        const want = vhdRef(za, zb, positions, N, distance);
        for (let l = 0; l < cfg.nLayers; l++) for (let h = 0; h < cfg.nHeads; h++) {
          assert.ok(Math.abs(got[l]![h]! - want[l]![h]!) < 2e-4, `${dev.kind} N=${N} ${distance} L${l}H${h}: ${got[l]![h]} vs ${want[l]![h]}`);
        }
      }
      // No context change at all: every head scores 0.
      const same = (await (await vhd.vhdScores(model, { prompts, nullPrompts: prompts })).array()) as number[][];
      assert.ok(same.flat().every((x) => Math.abs(x) < 1e-6), `${dev.kind}: identical runs score ${same.flat()}`);
    }
  }
});

test('vhd is a registered score; bad input names the problem', async () => {
  const model = randomModel({ ...cfg, positional: 'learned' }, 1, (await devices())[0]!);
  const rows = rowsOf(new Rng(2), 2, 5);
  const reg = registerScores();
  try {
    const t = await computeScore('vhd', model, { prompts: rows, nullPrompts: rows.map((r) => r.map(() => 0)) });
    assert.deepEqual(t.shape, [2, 3]);
    await assert.rejects(computeScore('vhd', model, { prompts: rows }), /nullPrompts/);
  } finally {
    reg.dispose();
  }
  await assert.rejects(vhd.vhdScores(model, { prompts: rows, nullPrompts: rows.slice(1) }), (e: Error) => e instanceof HeadsError && /keep every row/.test(e.message));
  await assert.rejects(vhd.vhdScores(model, { prompts: rows, nullPrompts: rows, distance: 'kl' as never }), /distance must be/);
  await assert.rejects(vhd.vhdScores(model, { prompts: { batchSize: 2, seqLen: 5, tokens: Int32Array.from(rows.flat()), positions: new Array(10).fill(0) }, nullPrompts: rows }), /no position/);
});

test('reinforceHeads: γ = 1 is bit-exact, γ scales z like a hand-written hook, restore puts the gates back (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    const model = randomModel({ ...cfg, positional: 'rotary', attnOnly: false, dMlp: 16 }, 9, dev);
    const rows = rowsOf(new Rng(4), 2, 6);
    const run = async (opts = {}): Promise<Float32Array> => Float32Array.from(await (await model.run(rows, opts)).data());
    const clean = await run();
    const heads = [{ layer: 0, head: 2 }, { layer: 1, head: 0 }];
    const one = vhd.reinforceHeads(model, heads, 1);
    assert.deepEqual(await run(), clean, `${dev.kind}: γ = 1 changed the logits`);
    one.restore();
    model.heads.set({ layer: 1, head: 0 }, { gate: 0.5 }); // an existing gate is multiplied, then restored
    const before = await run();
    const r = vhd.reinforceHeads(model, heads, 2.5);
    assert.equal(model.heads.get({ layer: 1, head: 0 }).gate, 1.25);
    const got = await run();
    r.restore();
    assert.deepEqual(await run(), before, `${dev.kind}: restore did not give back the same logits`);
    assert.equal(model.heads.get({ layer: 1, head: 0 }).gate, 0.5);
    model.heads.reset();
    // Reference: scale z of the two heads by hand (1.25 = 0.5·2.5 for L1H0).
    const scale = (l: number): Float32Array => Float32Array.from({ length: cfg.nHeads }, (_, h) => (l === 0 && h === 2 ? 2.5 : l === 1 && h === 0 ? 1.25 : 1));
    const want = await run({ hooks: [[(n: string) => n.endsWith('attn.hook_z'), (z: Tensor, ctx: HookContext) => mul(z, tensor(scale(ctx.layer!), [1, 1, cfg.nHeads, 1], { device: dev }))]] });
    let e = 0;
    for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i]! - want[i]!));
    assert.ok(e < 1e-5, `${dev.kind}: gates vs hand-scaled z differ by ${e}`);
    assert.throws(() => vhd.reinforceHeads(model, heads, 0), /gamma must be/);
    assert.throws(() => vhd.reinforceHeads(model, [heads[0]!, heads[0]!], 2), /listed twice/);
    assert.throws(() => vhd.reinforceHeads(model, [{ layer: 5, head: 0 }], 2), /out of range/);
  }
});

test('conflict task: answers follow the context, else the prior; conflict rows contradict the prior; ∅ rows keep positions', () => {
  const o = { entities: 12, attributes: 4, facts: 3, priorSeed: 3 };
  const L = vhd.conflictLayout(o);
  for (const kind of ['agree', 'conflict', 'absent'] as const) {
    const p = vhd.conflictPrompts(o, kind, 50, 7);
    const N = L.seqLen;
    for (let b = 0; b < 50; b++) {
      const row = Array.from(p.tokens.subarray(b * N, (b + 1) * N));
      const q = row[L.answerPos]!;
      assert.equal(p.entity[b], q);
      assert.equal(p.targets[b * N + L.answerPos], p.answer[b]);
      assert.equal(p.priorAnswer[b], L.prior[q]);
      const stated = [...Array(L.facts).keys()].find((i) => row[1 + 2 * i] === q);
      if (kind === 'absent') {
        assert.equal(stated, undefined);
        assert.equal(p.answer[b], L.prior[q]);
      } else {
        assert.notEqual(stated, undefined);
        assert.equal(p.answer[b], row[2 + 2 * stated!]);
        if (kind === 'conflict') assert.notEqual(p.answer[b], L.prior[q]);
        else assert.equal(p.answer[b], L.prior[q]);
      }
      // Other stated facts always agree with the prior.
      for (let i = 0; i < L.facts; i++) if (row[1 + 2 * i] !== q) assert.equal(row[2 + 2 * i], L.prior[row[1 + 2 * i]!]);
      const nul = Array.from(p.nullContext.tokens.subarray(b * N, (b + 1) * N));
      nul.forEach((t, i) => assert.equal(t, i >= 1 && i <= 2 * L.facts ? L.fill : row[i]));
      const fact = Array.from(p.nullFact.tokens.subarray(b * N, (b + 1) * N));
      fact.forEach((t, i) => assert.equal(t, stated !== undefined && (i === 1 + 2 * stated || i === 2 + 2 * stated) ? L.fill : row[i]));
    }
  }
  assert.throws(() => vhd.conflictLayout({ entities: 3, facts: 3 }), /fewer than entities/);
  assert.throws(() => vhd.conflictTask({ conflictRate: 0.9, absentRate: 0.2 }), /sum <= 1/);
  assert.throws(() => vhd.conflictPrompts(o, 'other' as never, 2, 1), /kind must be/);
});
