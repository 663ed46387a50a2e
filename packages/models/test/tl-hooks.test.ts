import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, add, clone, keep, mul, sum, tensor, zerosLike, type Tensor } from '@attnlab/tensor';
import type { ModelConfigInput } from '../src/index.js';
import { SEED, randomModel, randomTokens } from './helpers.js';
import { gpt2Ref64, maxDiff } from './gpt2-ref64.js';

const CONFIGS: [string, ModelConfigInput][] = [
  ['layernorm, learned, gelu', { vocabSize: 13, dModel: 12, nLayers: 2, nHeads: 3, nCtx: 16 }],
  ['rmsnorm, rotary, relu, untied', { vocabSize: 11, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 16, norm: 'rmsnorm', positional: 'rotary', act: 'relu', tiedEmbeddings: false }],
];

test('the TransformerLens hook set (hook_tokens, ln*.hook_scale, hook_mlp_in, ...) matches a float64 GPT-2 forward', async () => {
  for (const [what, cfg] of CONFIGS) {
    const model = randomModel(cfg, SEED);
    const toks = randomTokens(new Rng(SEED + 30), 2, 7, cfg.vocabSize);
    const { logits, cache } = await model.runWithCache(toks);
    const ref = gpt2Ref64(model.config, await model.stateDict(), toks);
    assert.ok(maxDiff(await logits.data(), ref.logits) < 1e-4, `${what}: logits`);
    assert.deepEqual(Array.from(await cache['hook_tokens']!.data()), toks.flat(), 'hook_tokens');
    for (const [name, { data, shape }] of ref.acts) {
      assert.ok(model.hookNames().includes(name), `${what}: ${name} is a hook point`);
      const got = cache[name];
      assert.ok(got, `${what}: ${name} is cached`);
      assert.deepEqual(got.shape, shape, `${what}: ${name} shape`);
      assert.ok(maxDiff(await got.data(), data) < 1e-4, `${what}: ${name} ${maxDiff(await got.data(), data)}`);
    }
    for (const n of ['blocks.0.ln1.hook_scale', 'blocks.1.hook_mlp_in', 'ln_final.hook_scale']) assert.ok(ref.acts.has(n), `the reference covers ${n}`);
  }
});

test('split q/k/v inputs (use_split_qkv_input) and a frozen LayerNorm scale', async () => {
  const model = randomModel(CONFIGS[0]![1], SEED);
  const toks = randomTokens(new Rng(SEED + 31), 1, 5, 13);
  const base = await (await model.forward(toks)).data();
  model.setUseSplitQkvInput(true);
  assert.ok(model.hookNames().includes('blocks.1.attn.hook_k_input'));
  const { logits, cache } = await model.runWithCache(toks);
  assert.ok(maxDiff(await logits.data(), base) < 1e-5, 'split inputs compute the same forward');
  const qin = (await cache['blocks.1.attn.hook_q_input']!.array()) as number[][][][]; // [B, N, H, D]
  const pre = (await cache['blocks.1.hook_resid_pre']!.array()) as number[][][];
  for (let h = 0; h < 3; h++) assert.deepEqual(qin[0]![3]![h], pre[0]![3], 'each head gets a copy of resid_pre');
  // Zeroing head 1's value input changes only what head 1 writes.
  const zeroHead1 = (t: Tensor): Tensor => mul(t, tensor([1, 0, 1], [1, 1, 3, 1]));
  const vOf = async (hooks: Parameters<typeof model.runWithCache>[1]): Promise<number[][][]> =>
    ((await (await model.runWithCache(toks, { ...hooks, names: ['blocks.0.attn.hook_v'] })).cache['blocks.0.attn.hook_v']!.array()) as number[][][][])[0]!;
  const v0 = await vOf({});
  const v = await vOf({ hooks: [['blocks.0.attn.hook_v_input', zeroHead1]] });
  for (let n = 0; n < 5; n++) {
    assert.ok(maxDiff(v[n]![1]!, v[0]![1]!) < 1e-6, 'head 1 value no longer depends on the token');
    for (const h of [0, 2]) assert.ok(maxDiff(v[n]![h]!, v0[n]![h]!) < 1e-6, `head ${h} untouched`);
  }
  assert.ok(maxDiff(v[3]![1]!, v0[3]![1]!) > 1e-3);
  model.setUseSplitQkvInput(false);
  // Replacing ln_final.hook_scale with itself (a frozen scale) leaves the logits.
  const frozen = await model.run(toks, { hooks: [['ln_final.hook_scale', (t) => add(t, zerosLike(t))]] });
  assert.ok(maxDiff(await frozen.data(), base) < 1e-5);
});

test('backward hooks see the gradient at a hook point (finite differences) and can replace it', async () => {
  const model = randomModel(CONFIGS[0]![1], SEED);
  const toks = randomTokens(new Rng(SEED + 32), 2, 5, 13);
  const rng = new Rng(SEED + 33);
  const R = tensor(Float32Array.from({ length: 2 * 5 * 13 }, () => rng.normal()), [2, 5, 13]);
  const lossOf = (logits: Tensor): Tensor => sum(mul(logits, R));
  const captured: Tensor[] = [];
  const run = await model.run(toks, { grad: true, backwardHooks: [['blocks.0.hook_resid_mid', (g) => void captured.push(keep(clone(g)))]] });
  lossOf(run).backward();
  assert.equal(captured.length, 1);
  const g = await captured[0]!.data();
  assert.deepEqual(captured[0]!.shape, [2, 5, 12]);
  const eps = 1e-2;
  for (const idx of [0, 17, 61, 119]) {
    const bump = (delta: number) => (t: Tensor): Tensor => {
      const e = new Float32Array(t.size);
      e[idx] = delta;
      return add(t, tensor(e, t.shape));
    };
    const lp = await lossOf(await model.run(toks, { hooks: [['blocks.0.hook_resid_mid', bump(eps)]] })).item();
    const lm = await lossOf(await model.run(toks, { hooks: [['blocks.0.hook_resid_mid', bump(-eps)]] })).item();
    const fd = (lp - lm) / (2 * eps);
    assert.ok(Math.abs(fd - g[idx]!) < 2e-2 * Math.max(1, Math.abs(fd)), `d loss / d resid_mid[${idx}]: backward hook ${g[idx]} vs finite difference ${fd}`);
  }
  // A replaced gradient flows upstream: zero at blocks.0.hook_resid_pre -> the position table gets none.
  for (const p of model.parameters()) p.grad = null;
  const zeroed = await model.run(toks, { grad: true, backwardHooks: [['blocks.0.hook_resid_pre', (gg) => zerosLike(gg)]] });
  lossOf(zeroed).backward();
  assert.ok((await model.param('wpe.weight').grad!.data()).every((x) => x === 0));
  assert.ok((await model.param('wte.weight').grad!.data()).some((x) => x !== 0), 'the tied unembedding still gets its gradient');
  await assert.rejects(model.run(toks, { backwardHooks: [['hook_embed', () => undefined]] }), /backwardHooks need grad: true/);
});

test('ActivationCache helpers: accumulatedResid, decomposeResid, stackHeadResults, logitAttrs, removeBatchDim', async () => {
  const model = randomModel(CONFIGS[0]![1], SEED);
  const toks = randomTokens(new Rng(SEED + 34), 2, 6, 13);
  const { logits, cache } = await model.runWithCache(toks);
  const acc = cache.accumulatedResid();
  assert.deepEqual(acc.labels, ['0_pre', '1_pre', 'final_post']);
  assert.deepEqual(acc.resid.shape, [3, 2, 6, 12]);
  assert.deepEqual(cache.accumulatedResid(1, { inclMid: true }).labels, ['0_pre', '0_mid', '1_pre']);
  const dec = cache.decomposeResid();
  assert.deepEqual(dec.labels, ['embed', 'pos_embed', '0_attn_out', '0_mlp_out', '1_attn_out', '1_mlp_out']);
  assert.ok(maxDiff(await sum(dec.resid, 0).data(), await cache['blocks.1.hook_resid_post']!.data()) < 1e-5, 'components sum to the residual');
  const heads = cache.stackHeadResults(1);
  assert.deepEqual(heads.labels, ['L0H0', 'L0H1', 'L0H2']);
  assert.ok(maxDiff(await add(sum(heads.resid, 0), model.param('h.0.attn.c_proj.bias')).data(), await cache['blocks.0.hook_attn_out']!.data()) < 1e-5, 'heads + b_O = attn_out');
  // Direct logit attribution: the normalised components plus the norm bias give the logits.
  const target = toks.map((r) => r[5]!);
  const attrs = cache.logitAttrs(cache.decomposeResid(undefined, { applyLn: true }).resid, target);
  assert.deepEqual(attrs.shape, [6, 2, 6]);
  const a = await sum(attrs, 0).data();
  const L = await logits.data();
  const bF = await model.param('ln_f.bias').data();
  const U = await model.param('wte.weight').data();
  for (let b = 0; b < 2; b++) for (let n = 0; n < 6; n++) {
    let biasTerm = 0;
    for (let d = 0; d < 12; d++) biasTerm += bF[d]! * U[target[b]! * 12 + d]!;
    assert.ok(Math.abs(a[b * 6 + n]! + biasTerm - L[(b * 6 + n) * 13 + target[b]!]!) < 1e-4, `logit attribution (${b}, ${n})`);
  }
  const diff = cache.logitAttrs(acc.resid, 3, 4);
  const d3 = await cache.logitAttrs(acc.resid, 3).data();
  const d4 = await cache.logitAttrs(acc.resid, 4).data();
  assert.ok(maxDiff(await diff.data(), d3.map((x, i) => x - d4[i]!)) < 1e-5, 'incorrect tokens subtract');
  assert.throws(() => cache.accumulatedResid(3), /layer 3 is out of range \[0, 2\]/);
  assert.throws(() => cache.removeBatchDim(), /has batch 2; only a batch of 1 can be removed/);
  const one = (await model.runWithCache([toks[0]!])).cache.removeBatchDim();
  assert.deepEqual(one['blocks.0.attn.hook_pattern']!.shape, [3, 6, 6]);
  assert.deepEqual(Object.keys(one), Object.keys(cache), 'helpers stay out of the listing');
});
