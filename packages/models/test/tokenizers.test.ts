import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BPETokenizer, ByteTokenizer, CharTokenizer, trainBPE } from '../src/index.js';

const CORPUS = 'the cat sat on the mat. the dog sat on the log. the cat and the dog are friends, naïve café 42 times!\n'.repeat(3);

test('char tokenizer: round trip, sorted alphabet, unknown characters are errors', () => {
  const t = CharTokenizer.fromText('hello world');
  assert.deepEqual(t.chars, [' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']);
  const ids = t.encode('hello');
  assert.deepEqual(ids, [3, 2, 4, 4, 5]);
  assert.equal(t.decode(ids), 'hello');
  assert.throws(() => t.encode('hex'), /character "x" at 2 is not in the alphabet/);
});

test('byte tokenizer: UTF-8 round trip', () => {
  const t = new ByteTokenizer();
  const ids = t.encode('naïve ✓');
  assert.equal(ids.length, 10);
  assert.equal(t.decode(ids), 'naïve ✓');
  assert.throws(() => t.decode([300]), /not a byte/);
});

test('BPE trained on a small corpus: merges shorten text, round trip is exact, files and tokenizer.json reload identically', () => {
  const bpe = trainBPE(CORPUS, 40, ['<|endoftext|>']);
  assert.ok(bpe.merges.length > 10);
  // The most frequent pair in this corpus becomes the first merge; ' the' ends up one token.
  const ids = bpe.encode(' the cat');
  assert.ok(ids.length <= 3, `' the cat' -> ${ids.length} tokens`);
  assert.equal(bpe.idToToken(ids[0]!), 'Ġthe');
  for (const s of [CORPUS, 'unseen wörds ✓ and 123\ttabs  spaces', '']) {
    const e = bpe.encode(s);
    assert.equal(bpe.decode(e), s);
    assert.ok(s.length === 0 || e.length < new TextEncoder().encode(s).length || s.startsWith('unseen'));
  }
  // Special tokens are matched literally.
  const withSpecial = bpe.encode('the cat<|endoftext|>the dog');
  assert.ok(withSpecial.includes(bpe.vocabSize - 1));
  assert.equal(bpe.decode(withSpecial), 'the cat<|endoftext|>the dog');
  // vocab.json + merges.txt and tokenizer.json give the same encoder.
  const { vocabJson, mergesTxt } = bpe.toFiles();
  const fromFiles = BPETokenizer.fromFiles(vocabJson, mergesTxt);
  const fromJson = BPETokenizer.fromTokenizerJson(JSON.stringify(bpe.toTokenizerJson()));
  assert.deepEqual(fromFiles.encode(CORPUS), bpe.encode(CORPUS));
  assert.deepEqual(fromJson.encode('the cat<|endoftext|>'), bpe.encode('the cat<|endoftext|>'));
});

test('BPE by hand: merge order follows rank (GPT-2 semantics)', () => {
  // vocab: bytes for a, b, c plus merged symbols; merges "a b" then "ab c".
  const vocab = { a: 0, b: 1, c: 2, ab: 3, abc: 4, bc: 5, 'Ġ': 6 };
  const tok = BPETokenizer.fromFiles(JSON.stringify(vocab), '#version: 0.2\na b\nab c\nb c\n');
  assert.deepEqual(tok.encode('abc'), [4]);
  assert.deepEqual(tok.encode('bca'), [5, 0]);
  assert.equal(tok.decode([4, 5]), 'abcbc');
  const rev = BPETokenizer.fromFiles(vocab, 'b c\na b\nab c\n');
  assert.deepEqual(rev.encode('abc'), [0, 5], 'b c ranks first, so a + bc');
  assert.throws(() => tok.encode('abd'), /symbol "d" is not in the vocabulary/);
  assert.throws(() => BPETokenizer.fromFiles('{bad', ''), /vocab.json is not valid JSON/);
  assert.throws(() => BPETokenizer.fromFiles(vocab, 'a b c\n'), /merges line 1/);
});
