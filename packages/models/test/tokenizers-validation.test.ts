import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BPETokenizer, ByteTokenizer, ModelError, trainBPE } from '../src/index.js';

function fails(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ModelError, `expected a ModelError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

const allNumbers = (ids: unknown[]): boolean => ids.every((i) => typeof i === 'number' && Number.isInteger(i));

test('BPE: text that spells Object.prototype names encodes to ids, not functions', () => {
  const bpe = trainBPE('the cat sat on the mat. '.repeat(4), 10, ['<|endoftext|>']);
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
    const text = `<|endoftext|>${name}`;
    const ids = bpe.encode(text);
    assert.ok(allNumbers(ids), `${name}: ${ids.map((i) => typeof i).join(',')}`);
    assert.equal(ids[0], bpe.vocabSize - 1, 'the special token');
    assert.equal(bpe.decode(ids), text);
    assert.equal(bpe.decode(bpe.encode(name)), name);
  }
});

test('BPE: merges that build a symbol named constructor or toString give that token', () => {
  for (const word of ['constructor', 'toString', 'valueOf']) {
    // Newlines keep each word free of GPT-2's leading-space marker, so the merges build the bare name.
    const bpe = trainBPE(`${word}\n`.repeat(30), 40);
    const ids = bpe.encode(word);
    assert.ok(allNumbers(ids), `${word}: ${String(ids)}`);
    assert.equal(ids.length, 1, `${word} is one learned token`);
    assert.equal(bpe.idToToken(ids[0]!), word);
    assert.equal(bpe.decode(ids), word);
    // The same through vocab.json + merges.txt and tokenizer.json.
    const { vocabJson, mergesTxt } = bpe.toFiles();
    assert.deepEqual(BPETokenizer.fromFiles(vocabJson, mergesTxt).encode(word), ids);
    assert.deepEqual(BPETokenizer.fromTokenizerJson(JSON.stringify(bpe.toTokenizerJson())).encode(word), ids);
  }
});

test('BPE: vocabulary ids must be non-negative integers, unique, numbering 0..N-1', () => {
  const base = { a: 0, b: 1, ab: 2 };
  for (const [bad, re] of [
    [-5, /token "ab" has id -5; ids must be non-negative integers/],
    [1e9, /token "ab" has id 1000000000, out of range: 3 tokens take ids 0\.\.2/],
    [1.5, /token "ab" has id 1\.5/],
    ['7', /token "ab" has id "7"/],
    [null, /token "ab" has id null/],
    [1, /id 1 is used by both "b" and "ab"/],
  ] as const) {
    fails(() => BPETokenizer.fromFiles(JSON.stringify({ ...base, ab: bad }), 'a b\n'), re);
    fails(() => BPETokenizer.fromTokenizerJson({ model: { type: 'BPE', vocab: { ...base, ab: bad as number }, merges: ['a b'] } }), re);
  }
  fails(() => BPETokenizer.fromFiles('{"a":0,"b":1,"a":2}', ''), /vocab\.json is not valid JSON \(repeated key "a"/);
  fails(() => BPETokenizer.fromFiles('[1,2]', ''), /the vocabulary must map tokens to ids, got \[1,2\]/);
  fails(() => BPETokenizer.fromFiles(JSON.stringify(base), 'a c\n'), /merge 1 "a c" uses "c", which is not in the vocabulary/);
  fails(() => BPETokenizer.fromFiles({ a: 0, b: 1 }, 'a b\n'), /merge 1 "a b" uses "ab", which is not in the vocabulary/);
  fails(() => BPETokenizer.fromTokenizerJson({ model: { vocab: base, merges: ['a b'] }, added_tokens: [{ id: 1, content: '<s>' }] }), /id 1 is used by both "b" and "<s>"/);
  fails(() => BPETokenizer.fromTokenizerJson({ model: { vocab: base, merges: ['a b'] }, added_tokens: [{ id: 5, content: 'a' }] }), /special token "a" has id 5 but the vocabulary gives it 0/);
  // A CRLF merges.txt reads like an LF one.
  assert.deepEqual(BPETokenizer.fromFiles(JSON.stringify(base), '#version: 0.2\r\na b\r\n').encode('ab'), [2]);
});

test('BPE: fromTokenizerJson wraps every failure in a ModelError, as fromFiles does', () => {
  fails(() => BPETokenizer.fromTokenizerJson('{bad'), /tokenizer\.json is not valid JSON/);
  fails(() => BPETokenizer.fromTokenizerJson('null'), /tokenizer\.json must be a JSON object, got null/);
  fails(() => BPETokenizer.fromTokenizerJson('{}'), /tokenizer\.json has no model object/);
  fails(() => BPETokenizer.fromTokenizerJson('{"model":{"type":"WordPiece","vocab":{}}}'), /model type "WordPiece" is not BPE/);
  fails(() => BPETokenizer.fromTokenizerJson('{"model":{"vocab":{},"merges":5}}'), /model\.merges must be a list, got 5/);
  fails(() => BPETokenizer.fromTokenizerJson('{"model":{"vocab":null,"merges":[]}}'), /model\.vocab must map tokens to ids, got null/);
  fails(() => BPETokenizer.fromTokenizerJson('{"model":{"vocab":{"a":0},"merges":[7]}}'), /merge 1 7 is not two symbols/);
  fails(() => BPETokenizer.fromTokenizerJson('{"model":{"vocab":{"a":0},"merges":["a b c"]}}'), /merge 1 "a b c" is not two symbols/);
  fails(() => BPETokenizer.fromTokenizerJson('{"model":{"vocab":{"a":0},"merges":[]},"added_tokens":[null]}'), /added_tokens\[0\] must have a non-empty string content, got null/);
  fails(() => BPETokenizer.fromTokenizerJson('{"model":{"vocab":{"a":0},"merges":[]},"added_tokens":{"x":1}}'), /added_tokens must be a list/);
  fails(() => BPETokenizer.fromFiles('{"a":0}', 5 as never), /merges\.txt must be text, got 5/);
});

test('tokenizers: bad ids and inputs are ModelErrors', () => {
  const bpe = trainBPE('abc abc abc', 3);
  for (const id of [-1, 1.5, bpe.vocabSize, Number.NaN]) fails(() => bpe.decode([id]), /is not in the vocabulary \(ids 0\.\./);
  fails(() => bpe.encode(5 as never), /encode needs a string, got 5/);
  fails(() => bpe.decode('abc' as never), /decode needs a list of ids/);
  fails(() => new ByteTokenizer().idToToken(300), /id 300 is not a byte/);
});
