/// <reference types="node" />
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CellLanguageService } from '@attnlab/kernel';

// The declaration files the build ships beside the worker (scripts/types.mjs), read the way the
// worker reads them: no file system, only this map.
const files = new Map(Object.entries(JSON.parse(readFileSync(new URL('../../bundle/types/types.json', import.meta.url), 'utf8')) as Record<string, string>));

test('the shipped declarations give the browser kernel library, worker and package types', () => {
  const ls = new CellLanguageService();
  ls.useFiles(files);
  assert.ok(ls.complete('Math.ma', 7).matches.includes('max'));
  assert.ok(ls.complete('self.postMe', 11).matches.includes('postMessage'), 'the webworker library');
  ls.addCell("import { randn } from '@attnlab/tensor';\nimport { attention } from '@attnlab/attention';\nconst t = randn([2, 3]);", ['randn', 'attention', 't']);
  assert.ok(ls.complete('t.requ', 6).matches.includes('requireGrad'));
  assert.match(ls.inspect('attention', 3).data['text/plain'] ?? '', /function attention\(/);
  assert.deepEqual(ls.typeErrors('const n: number = t;').map((e) => e.message.slice(0, 40)), ["Type 'Tensor' is not assignable to type "]);
});
