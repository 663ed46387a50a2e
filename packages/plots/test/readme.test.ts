import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KernelCore, type KernelOutput } from '@attnlab/kernel';

/** The README's example is a notebook cell: it runs in the real kernel core without an error. */
test('the README example runs as a cell and displays plotly JSON with its static SVG', async () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, 'README.md has a ts example');
  const out: KernelOutput[] = [];
  const kernel = new KernelCore({ send: (m) => out.push(m) });
  const reply = await kernel.execute(code);
  const errors = out.filter((o) => o.type === 'error' || (o.type === 'stream' && o.name === 'stderr'));
  assert.deepEqual(errors, []);
  assert.equal(reply.status, 'ok');
  const result = out.find((o): o is Extract<KernelOutput, { type: 'execute_result' }> => o.type === 'execute_result');
  assert.ok(result?.data['application/vnd.plotly.v1+json'], 'the grid displays as plotly JSON');
  assert.match(String(result.data['image/svg+xml']), /^<svg /);
  const log = out.filter((o) => o.type === 'stream').map((o) => (o as { text: string }).text).join('');
  assert.match(log, /Attention 2 heads, 4x4: two heads; Line chart, 1 series: loss; Bar chart, 2 bars; SVG \d+ chars, grid SVG \d+ chars/);
});
