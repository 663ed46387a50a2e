/**
 * The kernel core's worker thread (in the kernel process, core-relay.ts): @attnlab/kernel's
 * message service. The host keeps the ZeroMQ sockets, so it can take an interrupt (control
 * channel or SIGINT) while a cell runs here.
 */
import { parentPort } from 'node:worker_threads';
import { createKernelService } from '@attnlab/kernel';
import { PORT_CLOSED } from './relay-protocol.js';

if (!parentPort) throw new Error('core-worker.js runs as a worker thread of the attnlab Node kernel');
const port = parentPort;
const handle = createKernelService({ post: (msg) => port.postMessage(msg) });
port.on('message', handle);
// A cell that closes the port leaves a thread nobody can reach: end it, so the host restarts it.
port.on('close', () => process.exit(PORT_CLOSED));
// Unhandled rejections and exceptions in callbacks are the service's to report (on the cell).
