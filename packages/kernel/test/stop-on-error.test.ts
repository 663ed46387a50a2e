import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StopOnError } from '../src/service-client.js';

// Issue 15 item 5, the rule the browser kernel applies (the Node host reads its socket's queue).
test('after a failed execute, requests sent before the failure are aborted, later ones run', () => {
  const s = new StopOnError();
  const t0 = Date.parse('2026-01-01T00:00:00.000Z');
  const at = (ms: number) => new Date(t0 + ms).toISOString();
  assert.equal(s.aborts(at(0)), false, 'nothing failed yet');
  s.executed({}, 'ok', t0 + 100);
  assert.equal(s.aborts(at(50)), false);
  s.executed({ silent: false }, 'error', t0 + 1000);
  assert.equal(s.aborts(at(10)), true, 'queued behind the failed cell');
  assert.equal(s.aborts(at(1000)), true);
  assert.equal(s.aborts(at(1001)), false, 'sent after the failure');
  assert.equal(s.aborts(undefined), false);
  assert.equal(s.aborts('not a date'), false);
});

test('silent requests and stop_on_error: false do not abort the queue', () => {
  const s = new StopOnError();
  const t0 = Date.parse('2026-01-01T00:00:00.000Z');
  s.executed({ silent: true }, 'error', t0 + 1000);
  s.executed({ stop_on_error: false }, 'error', t0 + 2000);
  assert.equal(s.aborts(new Date(t0).toISOString()), false);
});
