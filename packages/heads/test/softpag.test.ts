/**
 * SoftPAG / HeadHunter: u = 0 leaves the DiT and the LM bit-exact (forward and PAG-guided samples,
 * CPU and WebGPU), the guidance effect grows monotonically with u on a small DiT, the previous head
 * controls come back, greedy selection matches exhaustive search on a toy additive objective and
 * reaches the (1 − 1/e) bound on a coverage objective, and the image metrics on hand-made images.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng, type Device } from '@attnlab/tensor';
import { DiT, sampleDDIM, type DiTConfigInput, type HeadSelector } from '@attnlab/models';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { moh, softpag } from '../src/index.js';
import { devices, randomModel } from './util.js';

const { withSoftPAG, pagGuidance, headHunter, layerHeads, shapeIoU, highFrequencyEnergy, pixelVariance } = softpag;

function randomDiT(cfg: DiTConfigInput, seed: number, device: Device): DiT {
  const m = new DiT(cfg, { seed, device });
  const rng = new Rng(seed + 3);
  const st = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [name, shape] of m.paramShapes()) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    for (let i = 0; i < a.length; i++) a[i] = 0.3 * rng.normal();
    st.set(name, { data: a, shape });
  }
  m.loadStateDict(st);
  return m;
}

const CFG: DiTConfigInput = { imageSize: 8, patchSize: 2, nClasses: 3, dModel: 16, nLayers: 2, nHeads: 4, timesteps: 100 };

test('SoftPAG u = 0 is bit-exact: DiT forward and PAG samples, LM logits (CPU and WebGPU)', async () => {
  for (const dev of await devices()) {
    const m = randomDiT(CFG, 1, dev);
    const rng = new Rng(2);
    const x = { data: Float32Array.from({ length: 3 * 64 }, () => rng.normal()), shape: [3, 1, 8, 8] };
    const t = [5, 50, 99];
    const y = [0, 3, 2];
    const plain = (await (await m.run(x, t, y)).data()) as Float32Array;
    const sel = layerHeads(m, [0, 1]);
    const at0 = (await withSoftPAG(m, sel, 0, async () => (await m.run(x, t, y)).data())) as Float32Array;
    assert.deepEqual(at0, plain, `${dev.kind}: u = 0 forward differs`);
    const at1 = (await withSoftPAG(m, sel, 1, async () => (await m.run(x, t, y)).data())) as Float32Array;
    assert.notDeepEqual(at1, plain);
    const base = await sampleDDIM(m, { labels: [0, 1, 2], steps: 5, seed: 4 });
    const g0 = await sampleDDIM(m, { labels: [0, 1, 2], steps: 5, seed: 4, guidance: pagGuidance(m, { heads: sel, u: 0, w: 3 }) });
    assert.deepEqual(g0.images, base.images, `${dev.kind}: PAG with u = 0 changes the samples`);
    // The LM: u = 0 on every head of layer 1 gives the same logits bit for bit.
    const lm = randomModel({ vocabSize: 11, dModel: 16, nLayers: 2, nHeads: 4, nCtx: 12 }, 3, dev);
    const toks = [[1, 4, 2, 9, 3, 3, 7]];
    const ref = await (await lm.forward(toks)).data();
    const lm0 = await withSoftPAG(lm, layerHeads(lm, [1]), 0, async () => (await lm.forward(toks)).data());
    assert.deepEqual(lm0, ref, `${dev.kind}: LM u = 0 differs`);
  }
});

test('SoftPAG restores each head\'s previous controls, even when the body throws', async () => {
  const m = randomDiT(CFG, 1, (await devices())[0]!);
  m.heads.set({ layer: 0, head: 1 }, { gate: 0.5, perturb: { mode: 'uniform', strength: 0.3 } });
  const before = JSON.stringify(m.heads.toJSON());
  await assert.rejects(withSoftPAG(m, [{ layer: 0, head: 1 }, { layer: 1, head: 2 }], 0.7, () => {
    assert.deepEqual(m.heads.get({ layer: 0, head: 1 }), { gate: 0.5, ablate: null, perturb: { mode: 'identity', strength: 0.7 } });
    throw new Error('body failed');
  }), /body failed/);
  assert.equal(JSON.stringify(m.heads.toJSON()), before);
});

test('the guidance effect is monotone in u (small DiT, last-layer heads)', async () => {
  const m = randomDiT(CFG, 5, (await devices())[0]!);
  const heads: HeadSelector[] = [{ layer: 1, head: 0 }, { layer: 1, head: 3 }];
  const labels = [0, 1, 2, 0];
  const base = await sampleDDIM(m, { labels, steps: 8, seed: 6 });
  const effect: number[] = [];
  for (const u of [0, 0.25, 0.5, 0.75, 1]) {
    const g = await sampleDDIM(m, { labels, steps: 8, seed: 6, guidance: pagGuidance(m, { heads, u, w: 1 }) });
    let d = 0;
    for (let i = 0; i < g.images.length; i++) d += (g.images[i]! - base.images[i]!) ** 2;
    effect.push(Math.sqrt(d / g.images.length));
  }
  assert.equal(effect[0], 0);
  for (let i = 1; i < effect.length; i++) assert.ok(effect[i]! > effect[i - 1]!, `effect not increasing in u: ${effect.map((e) => e.toFixed(4)).join(', ')}`);
});

test('HeadHunter greedy selection = exhaustive search on an additive toy objective; ≥ (1 − 1/e) of it on coverage', async () => {
  const rng = new Rng(8);
  const candidates: HeadSelector[] = [];
  for (let l = 0; l < 2; l++) for (let h = 0; h < 4; h++) candidates.push({ layer: l, head: h });
  const key = (s: HeadSelector): number => s.layer * 4 + s.head;
  const subsets = (k: number): HeadSelector[][] => {
    const out: HeadSelector[][] = [];
    for (let mask = 1; mask < 1 << candidates.length; mask++) {
      const set = candidates.filter((_, i) => mask & (1 << i));
      if (set.length <= k) out.push(set);
    }
    return out;
  };
  for (let trial = 0; trial < 5; trial++) {
    const w = candidates.map(() => rng.normal());
    const additive = (set: HeadSelector[]): number => set.reduce((a, s) => a + w[key(s)]!, 0);
    const r = await headHunter({ candidates, objective: additive, maxHeads: 4 });
    const best = Math.max(...subsets(4).map(additive));
    assert.ok(Math.abs(r.score - best) < 1e-12, `trial ${trial}: greedy ${r.score} vs exhaustive ${best}`);
    assert.ok(r.selected.length <= 4);
    assert.equal(r.trace.at(-1)!.score, r.score);
    // Coverage (submodular): each head covers random items; the score is the number covered.
    const covers = candidates.map(() => new Set(Array.from({ length: 4 }, () => rng.int(12))));
    const coverage = (set: HeadSelector[]): number => new Set(set.flatMap((s) => [...covers[key(s)]!])).size;
    const rc = await headHunter({ candidates, objective: coverage, maxHeads: 3 });
    const bestC = Math.max(...subsets(3).map(coverage));
    assert.ok(rc.score >= (1 - 1 / Math.E) * bestC, `coverage: greedy ${rc.score} vs exhaustive ${bestC}`);
  }
  // Evaluations: 8 + 7 + 6 + 5 when every step gains.
  const r = await headHunter({ candidates, objective: (set) => set.length, maxHeads: 4 });
  assert.equal(r.evaluations, 26);
});

test('HeadHunter, SoftPAG and the image metrics name bad input', async () => {
  const m = randomDiT(CFG, 1, (await devices())[0]!);
  await assert.rejects(withSoftPAG(m, [{ layer: 0, head: 0 }], 1.5, () => 0), /strength u must be in \[0, 1\], got 1.5/);
  assert.throws(() => pagGuidance(m, { heads: [], u: 0.5, w: 1 }), /heads is empty/);
  assert.throws(() => pagGuidance(m, { heads: [{ layer: 0, head: 0 }], u: 0.5, w: Number.NaN }), /w must be finite/);
  assert.throws(() => layerHeads(m, [2]), /layer 2 is out of range \(model has 2\)/);
  await assert.rejects(headHunter({ candidates: [], objective: () => 0 }), /candidates is empty/);
  await assert.rejects(headHunter({ candidates: [{ layer: 0, head: 1 }, { layer: 0, head: 1 }], objective: () => 0 }), /layer 0 head 1 is listed twice/);
  await assert.rejects(headHunter({ candidates: [{ layer: 0, head: 1 }], objective: () => Number.NaN }), /objective returned NaN for heads L0H1/);
  await assert.rejects(headHunter({ candidates: [{ layer: 0, head: 1 }], objective: () => 1, maxHeads: 0 }), /maxHeads must be a positive integer/);
  assert.throws(() => shapeIoU({ images: new Float32Array(16), shape: [1, 1, 4, 4] }, { images: new Float32Array(5), shape: [1, 1, 4, 4] }), /images has 5 values/);
  assert.throws(() => pixelVariance({ images: new Float32Array(32), shape: [1, 2, 4, 4] }), /one-channel images/);
});

test('image metrics on hand-made images', () => {
  const S = 4;
  const img = (f: (y: number, x: number) => number): Float32Array => Float32Array.from({ length: S * S }, (_, i) => f(Math.floor(i / S), i % S));
  const one = (a: Float32Array): { images: Float32Array; shape: [number, number, number, number] } => ({ images: a, shape: [1, 1, S, S] });
  const left = one(img((_, x) => (x < 2 ? 1 : -1)));
  const right = one(img((_, x) => (x >= 2 ? 1 : -1)));
  const top = one(img((y) => (y < 2 ? 1 : -1)));
  assert.equal(shapeIoU(left, left), 1);
  assert.equal(shapeIoU(left, right), 0);
  assert.equal(shapeIoU(left, top), 4 / 12);
  assert.equal(highFrequencyEnergy(one(img(() => 0.3))), 0);
  // A checkerboard of ±1: every interior Laplacian is ±8.
  assert.equal(highFrequencyEnergy(one(img((y, x) => ((x + y) % 2 ? 1 : -1)))), 64);
  assert.equal(pixelVariance(left), 1);
  assert.equal(pixelVariance(one(img(() => 0.3))), 0);
});

test('the shipped dit-shapes checkpoint reproduces its recorded sample quality (ViT classifier on seeded DDIM samples)', async () => {
  const dir = fileURLToPath(new URL('../../../../examples/models/', import.meta.url));
  const read = (p: string): Uint8Array => new Uint8Array(readFileSync(dir + p));
  const metrics = JSON.parse(readFileSync(`${dir}dit-shapes/metrics.json`, 'utf8'));
  const dit = DiT.fromSafetensors(JSON.parse(readFileSync(`${dir}dit-shapes/config.json`, 'utf8')), read('dit-shapes/model.safetensors'));
  assert.equal(dit.numParams, metrics.params);
  const vit = moh.vitFromCheckpoint(JSON.parse(readFileSync(`${dir}vit-mha/config.json`, 'utf8')), read('vit-mha/model.safetensors')).model;
  const s = metrics.sampleQuality.sampler;
  const labels = Array.from({ length: 4 * s.perClass }, (_, i) => i % 4);
  const batch = await sampleDDIM(dit, { labels, steps: s.steps, seed: s.seed, cfgScale: s.cfgScale });
  const { accuracy } = await softpag.classifierScore(vit, batch, labels);
  assert.ok(Math.abs(accuracy - metrics.sampleQuality.accuracyOnSamples) <= 1 / labels.length + 1e-9, `accuracy on samples ${accuracy}, recorded ${metrics.sampleQuality.accuracyOnSamples}`);
});
