/**
 * stdin for a kernel core running in a worker: `prompt()` in a cell must return the answer
 * synchronously, as in a browser window, while the answer arrives on another thread (the Jupyter
 * input_reply). The worker blocks in Atomics.wait on a SharedArrayBuffer the other thread fills.
 * Layout: Int32 [0] state (0 waiting, 1 answered), Int32 [1] byte length, then UTF-8 bytes.
 */
import { KernelInterrupt } from './interrupt.js';

const HEADER = 8;
const CAPACITY = 1 << 16;

export function createInputBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER + CAPACITY);
}

/** The other thread: hands the user's answer to the waiting worker. */
export function writeInput(buffer: SharedArrayBuffer, value: string): void {
  const bytes = new TextEncoder().encode(value).subarray(0, CAPACITY);
  new Uint8Array(buffer, HEADER).set(bytes);
  const head = new Int32Array(buffer, 0, 2);
  Atomics.store(head, 1, bytes.length);
  Atomics.store(head, 0, 1);
  Atomics.notify(head, 0);
}

/** The worker: marks the buffer as waiting (call before asking for input). */
export function armInput(buffer: SharedArrayBuffer): void {
  Atomics.store(new Int32Array(buffer, 0, 2), 0, 0);
}

/** The worker: blocks until the answer is written; an interrupt (flag set) ends the wait. */
export function readInput(buffer: SharedArrayBuffer, interruptFlag?: Int32Array): string {
  const head = new Int32Array(buffer, 0, 2);
  while (Atomics.load(head, 0) === 0) {
    Atomics.wait(head, 0, 0, 100);
    if (interruptFlag && Atomics.load(interruptFlag, 0) !== 0) throw new KernelInterrupt();
  }
  const n = Atomics.load(head, 1);
  // TextDecoder refuses views on shared memory: copy out first.
  return new TextDecoder().decode(new Uint8Array(buffer, HEADER, n).slice());
}
