import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, tensor } from '@attnlab/tensor';
import { passkeyTask, scorePasskey, KEY, QUERY, BOS } from '../src/passkey/index.js';

test('passkey: rows hold BOS, KEY + slot-tagged digits at the drawn distance, QUERY and the key again; answers are scored', () => {
  for (const [seqLen, keyLen, distance] of [[12, 4, undefined], [128, 4, 5], [128, 4, 121], [512, 3, 300]] as const) {
    const task = passkeyTask({ seqLen, keyLen, ...(distance !== undefined ? { distance } : {}) });
    const b = task.sample(new Rng(1), 5);
    for (let r = 0; r < 5; r++) {
      const row = b.tokens.subarray(r * seqLen, (r + 1) * seqLen);
      const d = b.distances[r]!;
      if (distance !== undefined) assert.equal(d, distance);
      const first = task.queryPos - d;
      assert.equal(row[0], BOS);
      assert.equal(row[first - 1], KEY);
      assert.equal(row[task.queryPos], QUERY);
      for (let s = 0; s < keyLen; s++) {
        assert.equal(row[first + s], 3 + s * 10 + b.keys[r]![s]!);
        assert.equal(row[task.queryPos + 1 + s], row[first + s]);
      }
      const scored = Array.from(b.evalMask.subarray(r * seqLen, (r + 1) * seqLen)).flatMap((m, i) => (m ? [i] : []));
      assert.deepEqual(scored, Array.from({ length: keyLen }, (_, s) => task.queryPos + s));
      for (const i of scored) assert.equal(b.targets[r * seqLen + i], row[i + 1]);
    }
  }
  assert.throws(() => passkeyTask({ seqLen: 8 }), /too short/);
  assert.throws(() => passkeyTask({ vocabSize: 40 }), /leaves no filler/);
  assert.throws(() => passkeyTask({ seqLen: 64, distance: 100 }).sample(new Rng(0), 1), /distance 100 is outside/);
});

test('passkey: scorePasskey counts a row right only when every answer token is the argmax', async () => {
  const task = passkeyTask({ seqLen: 16, keyLen: 2 });
  const b = task.sample(new Rng(3), 3);
  const V = task.vocabSize;
  const logits = new Float32Array(3 * 16 * V);
  for (let i = 0; i < 3 * 16; i++) logits[i * V + b.targets[i]!] = 1;
  // Row 1's second answer is wrong.
  const wrong = (1 * 16 + task.queryPos + 1) * V;
  logits[wrong + b.targets[16 + task.queryPos + 1]!] = 0;
  logits[wrong + 63] = 1;
  const s = await scorePasskey(async () => tensor(logits, [3, 16, V]), b);
  assert.deepEqual(Array.from(s.correct), [1, 0, 1]);
  assert.equal(s.accuracy, 2 / 3);
  assert.equal(s.digitAccuracy, 5 / 6);
});

test('passkey: with landmarkEvery B, LANDMARK closes every block but the last and never lands inside the needle', () => {
  const B = 8;
  const task = passkeyTask({ seqLen: 64, landmarkEvery: B });
  assert.equal(task.landmarkId, 43);
  const b = task.sample(new Rng(5), 40);
  for (let r = 0; r < 40; r++) {
    const row = b.tokens.subarray(r * 64, (r + 1) * 64);
    for (let p = 0; p < 64; p++) assert.equal(row[p] === 43, p % B === B - 1 && p < 64 - B, `row ${r} position ${p}`);
    const first = task.queryPos - b.distances[r]!;
    assert.equal(row[first - 1], KEY);
    for (let s = 0; s < 4; s++) assert.equal(row[first + s], 3 + s * 10 + b.keys[r]![s]!);
    for (let p = 0; p < 64; p++) if (row[p]! >= 44) assert.ok(row[p]! < 64);
  }
  assert.throws(() => passkeyTask({ seqLen: 64, landmarkEvery: 4 }), /must leave QUERY and the 4 answers in the last block/);
  assert.throws(() => passkeyTask({ seqLen: 64, landmarkEvery: 1 }), /landmarkEvery must be an integer in 2\.\.seqLen/);
});
