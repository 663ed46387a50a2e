/**
 * The Node host's worker thread: @attnlab/kernel's message service. The main thread keeps the
 * ZeroMQ sockets, so it can take an interrupt (control channel or SIGINT) while a cell runs here.
 */
import { parentPort } from 'node:worker_threads';
import { createKernelService } from '@attnlab/kernel';

if (!parentPort) throw new Error('core-worker.js runs as a worker thread of the attnlab Node kernel');
const port = parentPort;
const handle = createKernelService({ post: (msg) => port.postMessage(msg) });
port.on('message', handle);

// A rejection nobody awaited (a cell's stray promise) is reported on the cell, never fatal.
process.on('unhandledRejection', (r) => {
  port.postMessage({ type: 'output', out: { type: 'stream', name: 'stderr', text: `Unhandled promise rejection: ${r instanceof Error ? r.stack ?? r.message : String(r)}\n` } });
});
