/**
 * The kernel process: started by the host (core-process.ts), it runs the kernel core on a worker
 * thread and relays messages between the two. It exists so that nothing a cell does can take the
 * host down: a cell that ends its thread (process.exit, parentPort.close()), exhausts the heap
 * (the worker's resource limit; or a fatal V8 out-of-memory that aborts this whole process, as
 * `new Array(1e9).fill(0)` does inside a builtin) only ends this process, which the host
 * replaces. The shared memory the worker blocks on (interrupt flag, stdin, output credits) lives
 * here, and this thread is always idle to serve it.
 */
import { getHeapStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { createInputBuffer, writeInput } from '@attnlab/kernel/stdin';
import { PORT_CLOSED, type FromRelay, type ToRelay } from './relay-protocol.js';

if (!process.send) throw new Error('core-relay.js is started by the attnlab Node kernel host (with an IPC channel)');

const send = (m: FromRelay, done?: () => void): void => {
  if (process.connected) process.send!(m, undefined, undefined, done);
  else done?.();
};

const interruptFlag = new Int32Array(new SharedArrayBuffer(4));
const inputBuffer = createInputBuffer();
const credits = new Int32Array(new SharedArrayBuffer(4));
/** The cell's JavaScript heap: ATTNLAB_KERNEL_HEAP_MB, else what this process itself may use. */
const heapMb = Number(process.env['ATTNLAB_KERNEL_HEAP_MB']) || Math.floor(getHeapStatistics().heap_size_limit / 2 ** 20);

const worker = new Worker(new URL('./core-worker.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: heapMb } });
let cause: string | null = null;
worker.on('message', (msg: unknown) => send({ kind: 'service', msg }));
worker.on('error', (e: Error & { code?: string }) => {
  cause = e.code === 'ERR_WORKER_OUT_OF_MEMORY'
    ? `a cell ran out of memory (the kernel's JavaScript heap limit is ${heapMb} MB; ATTNLAB_KERNEL_HEAP_MB sets it)`
    : `the kernel thread failed: ${e.message}`;
});
worker.on('exit', (code) => {
  const reason = cause ?? (code === PORT_CLOSED ? "a cell closed the kernel thread's message port (parentPort.close())" : `a cell ended the kernel thread (process.exit(${code}))`);
  send({ kind: 'died', reason }, () => process.exit(0));
});

process.on('message', (m: ToRelay) => {
  switch (m.kind) {
    case 'service':
      if (m.msg.type === 'init') Object.assign(m.msg, { interruptBuffer: interruptFlag.buffer, inputBuffer, outputCredits: credits.buffer });
      // The flag stops a busy loop now; the message itself cancels a cell waiting on a promise.
      if (m.msg.type === 'interrupt') Atomics.store(interruptFlag, 0, 1);
      worker.postMessage(m.msg);
      return;
    case 'input':
      writeInput(inputBuffer, m.value);
      return;
    case 'sent':
      Atomics.sub(credits, 0, m.n);
      Atomics.notify(credits, 0);
      return;
  }
});
// The host gone (shut down or killed): nothing left to serve.
process.on('disconnect', () => process.exit(0));
// A terminal's Ctrl-C reaches the whole process group: interrupts come from the host.
process.on('SIGINT', () => undefined);
