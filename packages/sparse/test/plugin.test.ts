import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getAttention, hasAttention, registerAttention, type AttentionVariant } from '@attnlab/attention';
import { attnlabPlugin, registerVariants, variants } from '../src/index.js';

test('plugin: activate registers every variant through ctx; registerVariants registers and disposes them', () => {
  const names = variants.map((v) => v.name);
  assert.deepEqual(names, ['flash-sigmoid', 'neighborhood', 's2-attention', 'hyper-attention', 'sea', 'routing-attention', 'seer-attention', 'flexprefill', 'landmark', 'landmark-grouped']);
  const disposers: { dispose(): void }[] = [];
  attnlabPlugin.activate({ registerAttention: (name: string, v: AttentionVariant) => disposers.push(registerAttention(name, v)) });
  for (const n of names) assert.equal(getAttention(n).name, n);
  disposers.forEach((d) => d.dispose());
  for (const n of names) assert.equal(hasAttention(n), false);
  const reg = registerVariants();
  assert.ok(names.every(hasAttention));
  reg.dispose();
  assert.equal(names.some(hasAttention), false);
  assert.equal(attnlabPlugin.id, '@attnlab/sparse');
});
