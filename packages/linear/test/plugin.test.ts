/** The plugin registers its variants and KV policy through the context it is given; registerVariants is disposable. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasAttention, listKVPolicies } from '@attnlab/attention';
import { attnlabPlugin, registerVariants } from '../src/index.js';

test('attnlabPlugin.activate registers lightning, based-linear, aaren, miras, gated-conv, the key-shift variants, rat and the recurrent-state policy through ctx', () => {
  const seen: string[] = [];
  attnlabPlugin.activate({
    registerAttention: (name) => void seen.push(`attention:${name}`),
    registerKVPolicy: (name) => void seen.push(`kv-policy:${name}`),
  });
  assert.equal(attnlabPlugin.id, '@attnlab/linear');
  assert.deepEqual(seen.sort(), ['attention:aaren', 'attention:based-linear', 'attention:gated-conv', 'attention:lightning', 'attention:linear-elu1-shift', 'attention:miras', 'attention:rat', 'attention:softmax-shift', 'kv-policy:recurrent-state']);
});

test('registerVariants registers in the registries and its dispose removes them', () => {
  const d = registerVariants();
  assert.ok(hasAttention('lightning') && hasAttention('based-linear') && listKVPolicies().includes('recurrent-state'));
  d.dispose();
  assert.ok(!hasAttention('lightning') && !hasAttention('based-linear') && !listKVPolicies().includes('recurrent-state'));
});
