import type { BinaryOp, UnaryOp } from '../backend.js';

const GELU_C = Math.sqrt(2 / Math.PI);

/** Scalar definitions shared by the CPU kernels; the WGSL kernels implement the same formulas. */
export function unaryFn(op: UnaryOp, p = 0, p2 = 0): (x: number) => number {
  switch (op) {
    case 'neg': return (x) => -x;
    case 'exp': return Math.exp;
    case 'log': return Math.log;
    case 'sqrt': return Math.sqrt;
    case 'rsqrt': return (x) => 1 / Math.sqrt(x);
    case 'tanh': return Math.tanh;
    case 'sigmoid': return (x) => 1 / (1 + Math.exp(-x));
    case 'relu': return (x) => (x > 0 || x !== x ? x : 0); // NaN propagates, as in PyTorch
    case 'elu': return (x) => (x > 0 ? x : Math.expm1(x));
    case 'gelu': return (x) => 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
    case 'abs': return Math.abs;
    case 'sign': return (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
    case 'square': return (x) => x * x;
    case 'reciprocal': return (x) => 1 / x;
    case 'sin': return Math.sin;
    case 'cos': return Math.cos;
    case 'step': return (x) => (x > 0 ? 1 : 0);
    case 'eluGrad': return (x) => (x > 0 ? 1 : Math.exp(x));
    case 'geluGrad': return (x) => {
      const u = GELU_C * (x + 0.044715 * x * x * x);
      const t = Math.tanh(u);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x);
    };
    case 'powScalar': return (x) => Math.pow(x, p);
    case 'mulScalar': return (x) => x * p;
    case 'addScalar': return (x) => x + p;
    case 'clamp': return (x) => (x < p ? p : x > p2 ? p2 : x);
  }
}

export function binaryFn(op: BinaryOp): (a: number, b: number) => number {
  switch (op) {
    case 'add': return (a, b) => a + b;
    case 'sub': return (a, b) => a - b;
    case 'mul': return (a, b) => a * b;
    case 'div': return (a, b) => a / b;
    case 'max': return (a, b) => (a > b || Number.isNaN(a) ? a : b);
    case 'min': return (a, b) => (a < b || Number.isNaN(a) ? a : b);
    case 'pow': return Math.pow;
    case 'eq': return (a, b) => (a === b ? 1 : 0);
    case 'gt': return (a, b) => (a > b ? 1 : 0);
    case 'ge': return (a, b) => (a >= b ? 1 : 0);
    case 'lt': return (a, b) => (a < b ? 1 : 0);
    case 'le': return (a, b) => (a <= b ? 1 : 0);
  }
}

export const COMPARISONS: ReadonlySet<BinaryOp> = new Set(['eq', 'gt', 'ge', 'lt', 'le']);
