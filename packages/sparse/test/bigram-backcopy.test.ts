import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bigramBackcopy, bigramTransitions } from '../src/sink-metrics/index.js';
import { rng } from '../src/common/random.js';

test('bigram-backcopy: transitions are the counted bigram frequencies, rows normalised, empty rows zero', () => {
  const m = bigramTransitions(Int32Array.from([0, 1, 0, 1, 1, 2, 0, 1]), 4);
  const row = (r: number) => Array.from(m.subarray(r * 4, r * 4 + 4));
  assert.deepEqual(row(0), [0, 1, 0, 0]);
  assert.deepEqual(row(1), [1 / 3, 1 / 3, 1 / 3, 0]);
  assert.deepEqual(row(2), [1, 0, 0, 0]);
  assert.deepEqual(row(3), [0, 0, 0, 0]);
  assert.throws(() => bigramTransitions(Int32Array.from([0, 4]), 4), /bigramTransitions: token 4 at index 1 is outside the vocabulary of 4/);
  assert.throws(() => bigramTransitions(Int32Array.from([0]), 4), /bigramTransitions: the stream needs at least 2 tokens, got 1/);
});

test('bigram-backcopy: after every trigger the next token copies the one before it; other steps follow the bigram', () => {
  // Random sparse chains over odd vocabulary sizes, a few triggers each.
  const r = rng(5);
  for (const [V, nTrig] of [[3, 1], [7, 2], [31, 3]] as const) {
    const counts = new Int32Array(V * V);
    const src = Int32Array.from({ length: 4000 }, () => Math.floor(r() * V));
    // Thin the chain: keep only transitions to a few successors per token so zero entries exist.
    for (let i = 1; i < src.length; i++) src[i] = (src[i - 1]! + 1 + (src[i]! % Math.min(3, V - 1))) % V;
    const m = bigramTransitions(src, V);
    const triggers = Array.from({ length: nTrig }, (_, k) => (2 * k + 1) % V);
    const isTrig = (t: number) => triggers.includes(t);
    const out = bigramBackcopy(m, V, { length: 20_000, triggers, seed: 3 + V });
    assert.deepEqual(out, bigramBackcopy(m, V, { length: 20_000, triggers, seed: 3 + V }), 'deterministic for a seed');
    assert.ok(!isTrig(out[0]!), 'the first token is not a trigger');
    let copies = 0;
    for (let i = 1; i < out.length; i++) {
      if (isTrig(out[i - 1]!)) {
        assert.equal(out[i], out[i - 2], `V ${V}: token ${i} copies token ${i - 2} (before the trigger at ${i - 1})`);
        assert.ok(!isTrig(out[i]!), 'a copied token is never a trigger');
        copies++;
      } else {
        assert.ok(m[out[i - 1]! * V + out[i]!]! > 0, `V ${V}: transition ${out[i - 1]} -> ${out[i]} has probability 0`);
        counts[out[i - 1]! * V + out[i]!]! += 1;
      }
    }
    assert.ok(copies > 100, `V ${V}: ${copies} copies`);
    // Empirical bigram rows match the matrix (rows seen often enough).
    for (let a = 0; a < V; a++) {
      let n = 0;
      for (let b = 0; b < V; b++) n += counts[a * V + b]!;
      if (n < 2000) continue;
      for (let b = 0; b < V; b++) assert.ok(Math.abs(counts[a * V + b]! / n - m[a * V + b]!) < 0.04, `V ${V}: row ${a} -> ${b}: ${counts[a * V + b]! / n} vs ${m[a * V + b]}`);
    }
  }
});

test('bigram-backcopy: bad input names the argument', () => {
  const m = bigramTransitions(Int32Array.from([0, 1, 2, 0, 2, 1, 0]), 3);
  assert.throws(() => bigramBackcopy(m, 4, { length: 10, triggers: [1], seed: 1 }), /bigramBackcopy: transitions must hold 4×4 = 16 entries, got 9/);
  assert.throws(() => bigramBackcopy(m, 3, { length: 0, triggers: [1], seed: 1 }), /bigramBackcopy: length must be a positive integer, got 0/);
  assert.throws(() => bigramBackcopy(m, 3, { length: 10, triggers: [3], seed: 1 }), /bigramBackcopy: trigger 3 is outside the vocabulary of 3/);
  assert.throws(() => bigramBackcopy(m, 3, { length: 10, triggers: [], seed: 1 }), /bigramBackcopy: triggers must name between 1 and 2 tokens, got 0/);
  assert.throws(() => bigramBackcopy(m, 3, { length: 10, triggers: [0, 1, 2], seed: 1 }), /bigramBackcopy: triggers must name between 1 and 2 tokens, got 3/);
  const bad = Float64Array.from(m);
  bad[4] = Number.NaN;
  assert.throws(() => bigramBackcopy(bad, 3, { length: 10, triggers: [0], seed: 1 }), /bigramBackcopy: row 1 of transitions has a negative or NaN entry/);
});
