import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelCore, KERNEL_CONTEXT, type KernelContext, type KernelOutput } from '../src/index.js';

function core(): { k: KernelCore; out: KernelOutput[] } {
  const out: KernelOutput[] = [];
  return { k: new KernelCore({ send: (m) => out.push(m) }), out };
}

test('a comm opened by the kernel sends open/msg/close with buffers as ArrayBuffers', () => {
  const { k, out } = core();
  const c = k.comms.open('t', { a: 1 }, { buffers: [new Float32Array([1, 2])] });
  c.send({ b: 2 }, { buffers: [new Uint8Array([9, 8, 7]).subarray(1)] });
  c.close({ bye: true });
  assert.equal(out[0]!.type, 'comm_open');
  const msg = out[1] as Extract<KernelOutput, { type: 'comm_msg' }>;
  assert.deepEqual([...new Uint8Array(msg.buffers[0]!)], [8, 7]);
  assert.equal(out[2]!.type, 'comm_close');
  assert.throws(() => c.send({}), /is closed/);
  assert.equal((out[0] as { buffers: ArrayBuffer[] }).buffers[0]!.byteLength, 8);
});

test('front-end comms reach registered targets; unknown ids and malformed content are reported, not thrown', () => {
  const { k, out } = core();
  const seen: unknown[] = [];
  k.comms.registerTarget('echo', (comm, open) => {
    seen.push(open.data);
    comm.onMsg = (m) => seen.push([m.data, m.buffers.map((b) => b.byteLength)]);
    comm.onClose = () => seen.push('closed');
  });
  k.commOpen({ comm_id: 'x', target_name: 'echo', data: { v: 1 } });
  k.commMsg({ comm_id: 'x', data: { w: 2 } }, {}, [new ArrayBuffer(3)]);
  assert.deepEqual(k.commInfo(), { status: 'ok', comms: { x: { target_name: 'echo' } } });
  k.commClose({ comm_id: 'x', data: {} });
  assert.deepEqual(seen, [{ v: 1 }, [{ w: 2 }, [3]], 'closed']);
  k.commMsg({ comm_id: 'gone', data: {} });
  k.commMsg('not an object');
  k.commOpen({ comm_id: 'y', target_name: 'nobody' });
  const err = out.filter((o) => o.type === 'stream').map((o) => (o as { text: string }).text).join('');
  assert.match(err, /unknown comm gone/);
  assert.match(err, /malformed content/);
  assert.match(err, /unknown target 'nobody'/);
  assert.ok(out.some((o) => o.type === 'comm_close' && o.commId === 'y'), 'an unknown target gets a comm_close');
});

test('a throwing comm handler is reported on stderr and the kernel keeps its state', async () => {
  const { k, out } = core();
  await k.execute('const kept = 5;');
  k.comms.registerTarget('bad', (comm) => {
    comm.onMsg = () => {
      throw new Error('handler broke');
    };
  });
  k.commOpen({ comm_id: 'b', target_name: 'bad' });
  k.commMsg({ comm_id: 'b', data: {} });
  assert.match(out.map((o) => (o.type === 'stream' ? o.text : '')).join(''), /error in comm b \(bad\): Error: handler broke/);
  const r = await k.execute('kept');
  assert.equal(r.status, 'ok');
});

test('the kernel context global exposes comms and display to packages that do not import the kernel', () => {
  const { k, out } = core();
  const ctx = (globalThis as Record<symbol, unknown>)[KERNEL_CONTEXT] as KernelContext;
  assert.equal(ctx.comms, k.comms);
  ctx.display({ [Symbol.for('Jupyter.display')]: () => ({ 'text/plain': 'hi' }) });
  assert.equal(out.at(-1)!.type, 'display_data');
});
