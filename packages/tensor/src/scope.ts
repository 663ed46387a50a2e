import type { Tensor } from './tensor.js';

/**
 * Scopes free every tensor created inside them except what they return (and tensors
 * marked with `keep`). Scopes nest. Async functions are supported, but tensors created by
 * other concurrently running code while the scope awaits are attributed to it too.
 */
const stack: Set<Tensor>[] = [];

export function trackTensor(t: Tensor): void {
  stack[stack.length - 1]?.add(t);
}

export function untrackTensor(t: Tensor): void {
  for (const s of stack) s.delete(t);
}

/** Exempt a tensor from disposal by the enclosing scopes. */
export function keep<T extends Tensor>(t: T): T {
  untrackTensor(t);
  return t;
}

function collect(value: unknown, into: Set<Tensor>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isTensor(value)) {
    into.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, into, seen);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collect(v, into, seen);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, into, seen);
  }
}

function isTensor(v: object): v is Tensor {
  return 'storage' in v && 'shape' in v && 'device' in v && 'gradNode' in v;
}

function finish(frame: Set<Tensor>, result: unknown): void {
  const kept = new Set<Tensor>();
  collect(result, kept, new Set());
  for (const t of frame) {
    if (kept.has(t)) continue;
    // A tensor whose grad is held by a parameter stays (backward inside a scope).
    t.dispose();
  }
  // Returned tensors belong to the enclosing scope now.
  const parent = stack[stack.length - 1];
  if (parent) for (const t of kept) if (!t.isDisposed && frame.has(t)) parent.add(t);
}

export function scope<T>(fn: () => T): T {
  const frame = new Set<Tensor>();
  stack.push(frame);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    pop(frame);
    finish(frame, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => {
        pop(frame);
        finish(frame, v);
        return v;
      },
      (e: unknown) => {
        pop(frame);
        finish(frame, undefined);
        throw e;
      },
    ) as T;
  }
  pop(frame);
  finish(frame, result);
  return result;
}

function pop(frame: Set<Tensor>): void {
  const i = stack.lastIndexOf(frame);
  if (i >= 0) stack.splice(i, 1);
}
