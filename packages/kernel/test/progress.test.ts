import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KernelCore, type KernelOutput } from '../src/index.js';

function kernel(): { k: KernelCore; out: KernelOutput[] } {
  const out: KernelOutput[] = [];
  return { k: new KernelCore({ send: (m) => out.push(m) }), out };
}

const lastText = (out: KernelOutput[]): string => {
  const u = out.filter((o) => o.type === 'display_data' || o.type === 'update_display_data').at(-1);
  return String(u && 'data' in u ? u.data['text/plain'] : '');
};

test('for (const i of progress(16)) counts 0..15 like trange and ends on 16/16', async () => {
  const { k, out } = kernel();
  const r = await k.execute("const seen: number[] = [];\nfor (const i of progress(16, { label: 'steps' })) seen.push(i);\nseen.join(',')");
  assert.equal(r.status, 'ok', JSON.stringify(r));
  const result = out.find((o) => o.type === 'execute_result');
  assert.equal(result?.type === 'execute_result' && result.data['text/plain'], '"0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"');
  const ids = new Set(out.filter((o) => o.type === 'display_data' || o.type === 'update_display_data').map((o) => ('displayId' in o ? o.displayId : '')));
  assert.equal(ids.size, 1, 'one bar, updated in place');
  assert.match(lastText(out), /^steps \[#{30}\] 16\/16/);
});

test('a loop that breaks or throws leaves its bar at the count it reached, not a stale 0', async () => {
  const { k, out } = kernel();
  await k.execute('for (const i of progress(10)) { if (i === 3) break; }');
  assert.match(lastText(out), /\] 3\/10/);
  out.length = 0;
  const r = await k.execute("for (const i of progress(['a', 'b', 'c', 'd'])) { if (i === 'c') throw new Error('stop'); }");
  assert.equal(r.status, 'error');
  assert.match(lastText(out), /\] 2\/4/);
});

test('an update the throttle skipped is drawn shortly after, so a manual bar is never left behind', async () => {
  const { k, out } = kernel();
  await k.execute('const bar = progress(100, { throttleMs: 50 });\nfor (let i = 0; i < 7; i++) bar.update(1);');
  // The trailing redraw comes within the throttle interval; wait for it (bounded) rather than a fixed time.
  for (let i = 0; i < 100 && !/\] 7\/100/.test(lastText(out)); i++) await sleep(20);
  assert.match(lastText(out), /\] 7\/100/);
});

test('progress() with a bad argument is a clear TypeError and draws nothing', async () => {
  const { k, out } = kernel();
  for (const [arg, re] of [['-1', /total must be a non-negative integer, got -1/], ['1.5', /got 1\.5/], ['null', /takes a number of steps or an iterable, got null/], ['{}', /got object/]] as const) {
    const r = await k.execute(`for (const x of progress(${arg} as never)) {}`);
    assert.equal(r.status === 'error' && r.ename, 'TypeError');
    assert.match(r.status === 'error' ? r.evalue : '', re);
  }
  assert.equal(out.filter((o) => o.type === 'display_data').length, 0);
});
