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
// Unhandled rejections are the core's to report (on the cell that caused them).
