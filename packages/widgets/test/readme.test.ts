import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KernelCore, type KernelOutput } from '@attnlab/kernel';

/** The README's example is a notebook cell: it runs in the real kernel core without an error. */
test('the README example runs as a cell: explorer, steering grid and slider open comms and display', async () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, 'README.md has a ts example');
  const out: KernelOutput[] = [];
  const kernel = new KernelCore({ send: (m) => out.push(m) });
  const reply = await kernel.execute(code);
  const errors = out.filter((o) => o.type === 'error' || (o.type === 'stream' && o.name === 'stderr'));
  assert.deepEqual(errors, []);
  assert.equal(reply.status, 'ok');
  const models = out.filter((o) => o.type === 'comm_open').map((o) => String((o as unknown as { data: { state: Record<string, unknown> } }).data.state['_model_name']));
  for (const m of ['AttentionExplorerModel', 'HeadSteeringModel', 'IntSliderModel', 'VBoxModel']) assert.ok(models.includes(m), `${m} in ${models}`);
  const result = out.find((o): o is Extract<KernelOutput, { type: 'execute_result' }> => o.type === 'execute_result');
  assert.ok(result?.data['application/vnd.jupyter.widget-view+json'], 'the VBox displays as a widget view');
  // The explorer's patterns went out as a binary buffer, and the ablation reached the model.
  assert.ok(out.some((o) => o.type === 'comm_open' && (o as { buffers?: unknown[] }).buffers?.length === 1));
});
