import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, mulScalar, slice, softmax, zerosLike, type Tensor } from '@attnlab/tensor';
import { type ModelConfigInput } from '../src/index.js';
import { SEED, assertClose, maxAbsDiff, randomModel, randomTokens } from './helpers.js';

const CFG: ModelConfigInput = { vocabSize: 17, dModel: 16, nLayers: 2, nHeads: 4, nCtx: 32 };

test('runWithCache: every TransformerLens hook point fires with the right shape', async () => {
  const model = randomModel(CFG, SEED);
  const [B, N, D, H, Dh, V] = [2, 5, 16, 4, 4, 17];
  const toks = randomTokens(new Rng(SEED), B, N, V);
  const fired: string[] = [];
  const { logits, cache } = await model.runWithCache(toks, { hooks: [[() => true, (_t, ctx) => void fired.push(ctx.name)]] });
  assert.deepEqual(logits.shape, [B, N, V]);
  const expect: Record<string, number[]> = {
    hook_embed: [B, N, D],
    hook_pos_embed: [B, N, D],
    'ln_final.hook_normalized': [B, N, D],
  };
  for (let l = 0; l < 2; l++) {
    Object.assign(expect, {
      [`blocks.${l}.hook_resid_pre`]: [B, N, D],
      [`blocks.${l}.attn.hook_q`]: [B, N, H, Dh],
      [`blocks.${l}.attn.hook_k`]: [B, N, H, Dh],
      [`blocks.${l}.attn.hook_v`]: [B, N, H, Dh],
      [`blocks.${l}.attn.hook_attn_scores`]: [B, H, N, N],
      [`blocks.${l}.attn.hook_pattern`]: [B, H, N, N],
      [`blocks.${l}.attn.hook_z`]: [B, N, H, Dh],
      [`blocks.${l}.attn.hook_result`]: [B, N, H, D],
      [`blocks.${l}.hook_attn_out`]: [B, N, D],
      [`blocks.${l}.hook_mlp_out`]: [B, N, D],
      [`blocks.${l}.hook_resid_post`]: [B, N, D],
    });
  }
  for (const [name, shape] of Object.entries(expect)) {
    assert.ok(cache[name], `cache lacks ${name}`);
    assert.deepEqual(cache[name]!.shape, shape, name);
  }
  // Names and order match the model's own list.
  assert.deepEqual(fired, model.hookNames());
  // Patterns are causal probability rows.
  const p = (await cache['blocks.0.attn.hook_pattern']!.array()) as number[][][][];
  p[1]![2]!.forEach((row, i) => {
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    row.slice(i + 1).forEach((v) => assert.equal(v, 0));
  });
  // resid_post(0) = resid_pre(0) + attn_out + mlp_out, and feeds resid_pre(1).
  const sum = await cache['blocks.0.hook_resid_pre']!.data();
  const a = await cache['blocks.0.hook_attn_out']!.data();
  const m = await cache['blocks.0.hook_mlp_out']!.data();
  assertClose(sum.map((v, i) => v + a[i]! + m[i]!), await cache['blocks.0.hook_resid_post']!.data(), 1e-5, 'residual sum');
  assert.equal(maxAbsDiff(await cache['blocks.0.hook_resid_post']!.data(), await cache['blocks.1.hook_resid_pre']!.data()), 0);
  // The unhooked forward gives the same logits as the hooked one.
  // hook_result sums heads separately from the fused W_O matmul: float32 rounding only.
  assertClose(await (await model.forward(toks)).data(), await logits.data(), 1e-4, 'hooked vs unhooked');
});

test('runWithCache names filter: only requested points are stored; scores/pattern only when asked', async () => {
  const model = randomModel(CFG, SEED);
  const toks = randomTokens(new Rng(SEED), 1, 4, 17);
  const { cache } = await model.runWithCache(toks, { names: [/hook_z$/, 'blocks.1.hook_resid_post'] });
  assert.deepEqual(Object.keys(cache).sort(), ['blocks.0.attn.hook_z', 'blocks.1.attn.hook_z', 'blocks.1.hook_resid_post']);
  const seen: string[] = [];
  await model.run(toks, { hooks: [['blocks.0.hook_resid_pre', (_t, ctx) => void seen.push(ctx.name)]] });
  assert.deepEqual(seen, ['blocks.0.hook_resid_pre']);
});

test('hooks can replace activations', async () => {
  const model = randomModel(CFG, SEED);
  const toks = randomTokens(new Rng(SEED + 3), 2, 6, 17);
  // Zeroing the final normalized residual zeroes the (tied) logits.
  const zero = await model.run(toks, { hooks: [['ln_final.hook_normalized', (t) => zerosLike(t)]] });
  assert.equal(maxAbsDiff(await zero.data(), new Float32Array(zero.size)), 0);
  // Replacing a pattern changes the output; replacing it with itself does not.
  const base = await (await model.forward(toks)).data();
  const same = await model.run(toks, { hooks: [['blocks.1.attn.hook_pattern', (t) => mulScalar(t, 1)]] });
  assertClose(await same.data(), base, 1e-6, 'identity replacement');
  const changed = await model.run(toks, { hooks: [['blocks.1.attn.hook_pattern', (t) => mulScalar(t, 0.5)]] });
  assert.ok(maxAbsDiff(await changed.data(), base) > 1e-3);
  // Replacing scores with scores/2 equals a temperature-2 perturbation of every head.
  const half = await model.run(toks, { hooks: [['blocks.0.attn.hook_attn_scores', (t) => mulScalar(t, 0.5)]] });
  for (let h = 0; h < 4; h++) model.heads.set({ layer: 0, head: h }, { perturb: { mode: 'temperature', strength: 2 } });
  assertClose(await (await model.forward(toks)).data(), await half.data(), 1e-5, 'temperature perturbation = scores/2');
  model.heads.reset();
  // Wrong-shape replacement is an error naming the hook.
  await assert.rejects(model.run(toks, { hooks: [['blocks.0.hook_attn_out', (t) => slice(t, [0, 0, 0], [1, -1, -1])]] }), /blocks\.0\.hook_attn_out: replacement has shape/);
  // Persistent hooks (plugins) apply until removed.
  const remove = model.addHook('ln_final.hook_normalized', (t) => zerosLike(t));
  assert.equal(maxAbsDiff(await (await model.forward(toks)).data(), new Float32Array(zero.size)), 0);
  remove();
  assertClose(await (await model.forward(toks)).data(), base, 1e-6, 'after removing');
});

async function results(model: ReturnType<typeof randomModel>, toks: number[][]): Promise<{ r: Float32Array; out: Float32Array; z: Float32Array; logits: Float32Array }> {
  const { logits, cache } = await model.runWithCache(toks, { names: ['blocks.1.attn.hook_result', 'blocks.1.hook_attn_out', 'blocks.1.attn.hook_z'] });
  return {
    r: (await cache['blocks.1.attn.hook_result']!.data()) as Float32Array,
    out: (await cache['blocks.1.hook_attn_out']!.data()) as Float32Array,
    z: (await cache['blocks.1.attn.hook_z']!.data()) as Float32Array,
    logits: (await logits.data()) as Float32Array,
  };
}

test('head ablation changes exactly the ablated head\'s contribution', async () => {
  const model = randomModel(CFG, SEED);
  const [B, N, H, D, Dh] = [2, 6, 4, 16, 4];
  const toks = randomTokens(new Rng(SEED + 5), B, N, 17);
  const before = await results(model, toks);
  const changes: string[] = [];
  const off = model.heads.onChange((sel) => changes.push(sel ? `${sel.layer}.${sel.head}` : 'reset'));
  model.heads.set({ layer: 1, head: 2 }, { ablate: 'zero' });
  assert.deepEqual(model.heads.get({ layer: 1, head: 2 }), { gate: 1, ablate: 'zero', perturb: null });
  const after = await results(model, toks);
  for (let i = 0; i < B * N; i++) {
    for (let h = 0; h < H; h++) {
      for (let d = 0; d < D; d++) {
        const j = (i * H + h) * D + d;
        if (h === 2) assert.equal(after.r[j], 0);
        else assert.ok(Math.abs(after.r[j]! - before.r[j]!) < 1e-6, `head ${h} changed`);
      }
    }
    for (let d = 0; d < D; d++) {
      // attn_out moved by exactly minus head 2's result.
      const want = before.out[i * D + d]! - before.r[(i * H + 2) * D + d]!;
      assert.ok(Math.abs(after.out[i * D + d]! - want) < 1e-5);
    }
  }
  // Gate 0.5 halves the head's result.
  model.heads.set({ layer: 1, head: 2 }, { ablate: null, gate: 0.5 });
  const gated = await results(model, toks);
  assertClose(Array.from({ length: B * N * D }, (_, k) => gated.r[(Math.floor(k / D) * H + 2) * D + (k % D)]!),
    Array.from({ length: B * N * D }, (_, k) => 0.5 * before.r[(Math.floor(k / D) * H + 2) * D + (k % D)]!), 1e-5, 'gate 0.5');
  // Mean ablation: the head's z is its mean over batch and positions.
  model.heads.set({ layer: 1, head: 2 }, { gate: 1, ablate: 'mean' });
  const meaned = await results(model, toks);
  for (let d = 0; d < Dh; d++) {
    let mu = 0;
    for (let i = 0; i < B * N; i++) mu += before.z[(i * H + 2) * Dh + d]!;
    mu /= B * N;
    for (let i = 0; i < B * N; i++) assert.ok(Math.abs(meaned.z[(i * H + 2) * Dh + d]! - mu) < 1e-5);
  }
  model.heads.reset();
  assertClose((await results(model, toks)).logits, before.logits, 1e-6, 'after reset');
  assert.deepEqual(changes, ['1.2', '1.2', '1.2', 'reset']);
  off();
  assert.equal(model.heads.layers, 2);
  assert.equal(model.heads.heads, 4);
  assert.throws(() => model.heads.set({ layer: 2, head: 0 }, { gate: 0 }), /layer 2 is out of range/);
});

test('pattern perturbations: identity, uniform, temperature', async () => {
  const model = randomModel(CFG, SEED);
  const toks = randomTokens(new Rng(SEED + 9), 1, 5, 17);
  const pat = async (): Promise<number[][][]> => ((await (await model.runWithCache(toks, { names: 'blocks.0.attn.hook_pattern' })).cache['blocks.0.attn.hook_pattern']!.array()) as number[][][][])[0]!;
  const base = await pat();
  model.heads.set({ layer: 0, head: 1 }, { perturb: { mode: 'identity', strength: 1 } });
  model.heads.set({ layer: 0, head: 3 }, { perturb: { mode: 'uniform', strength: 0.5 } });
  const p = await pat();
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 5; j++) {
      assert.ok(Math.abs(p[1]![i]![j]! - (i === j ? 1 : 0)) < 1e-6, 'identity');
      const u = j <= i ? 1 / (i + 1) : 0;
      assert.ok(Math.abs(p[3]![i]![j]! - (0.5 * base[3]![i]![j]! + 0.5 * u)) < 1e-6, 'uniform');
      assert.ok(Math.abs(p[0]![i]![j]! - base[0]![i]![j]!) < 1e-6, 'untouched head (float64 probe vs float32 dense)');
    }
  }
  model.heads.reset();
  model.heads.set({ layer: 0, head: 2 }, { perturb: { mode: 'temperature', strength: 3 } });
  const { cache } = await model.runWithCache(toks, { names: ['blocks.0.attn.hook_attn_scores', 'blocks.0.attn.hook_pattern'] });
  const scores = cache['blocks.0.attn.hook_attn_scores']!;
  const want = (await softmax(scores as Tensor, -1).array()) as number[][][][];
  const got = (await cache['blocks.0.attn.hook_pattern']!.array()) as number[][][][];
  assertClose(got.flat(3), want.flat(3), 1e-6, 'pattern = softmax(scores) with the temperature inside the scores');
  model.heads.reset();
});

test('setAttention: per-layer and per-head variants from the registry', async () => {
  const model = randomModel(CFG, SEED);
  const toks = randomTokens(new Rng(SEED + 11), 2, 6, 17);
  const zOf = async (): Promise<Float32Array> => (await (await model.runWithCache(toks, { names: 'blocks.0.attn.hook_z' })).cache['blocks.0.attn.hook_z']!.data()) as Float32Array;
  const soft = await zOf();
  model.setAttention(0, 'linear');
  const lin = await zOf();
  assert.ok(maxAbsDiff(soft, lin) > 1e-3);
  model.setAttention({ layer: 0, head: 1 }, 'softmax');
  model.setAttention({ layer: 0, head: 3 }, 'softmax');
  assert.equal(model.getAttentionChoice(0, 1).name, 'softmax');
  assert.equal(model.getAttentionChoice(0, 2).name, 'linear');
  const mixed = await zOf();
  const H = 4;
  const Dh = 4;
  for (let i = 0; i < mixed.length; i++) {
    const h = Math.floor(i / Dh) % H;
    const want = h === 1 || h === 3 ? soft[i]! : lin[i]!;
    assert.ok(Math.abs(mixed[i]! - want) < 1e-6, `mixed head ${h}`);
  }
  // Linear attention reports its normalised pattern (rows sum to 1, causal).
  const { cache } = await model.runWithCache(toks, { names: 'blocks.0.attn.hook_pattern' });
  assert.ok(cache['blocks.0.attn.hook_pattern']);
  model.setAttention('all', 'softmax');
});
