/**
 * Fused CPU kernels with their own backward: one pass per row instead of a dozen broadcast
 * ops (and their autograd records) for LayerNorm. Statistics in float64; the WebGPU device
 * keeps the composed ops.
 */
import { record } from '../autograd.js';
import { fromStorage } from '../ops/create.js';
import type { Tensor } from '../tensor.js';
import { CpuStorage, cpuData } from './storage.js';
import { GELU_C, tanhFast } from './backend.js';
import { geluGradWasm } from './wasm/gemm.js';
import { f32Overwrite } from './pool.js';

/** LayerNorm over the last axis on the CPU: y = (x - mean) * rstd * w + b, with a fused backward. */
export function layerNormCpu(x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor {
  const op = 'layerNorm';
  const X = cpuData(x.storage(op)) as Float32Array;
  const D = x.shape[x.rank - 1] ?? 1;
  const rows = D === 0 ? 0 : X.length / D;
  const W = weight ? (cpuData(weight.storage(op)) as Float32Array) : NONE;
  const Bv = bias ? (cpuData(bias.storage(op)) as Float32Array) : NONE;
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  const Y = f32Overwrite(X.length);
  lnForward(X, W, Bv, Y, mean, rstd, rows, D, eps);
  const out = fromStorage(x.device, new CpuStorage(Y), x.shape, 'float32');
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(out, op, inputs, (g) => {
    const G = cpuData(g.storage(op)) as Float32Array;
    const dX = f32Overwrite(X.length);
    const dW = new Float64Array(weight ? D : 0);
    const dB = new Float64Array(bias ? D : 0);
    lnBackward(X, W, G, dX, dW, dB, mean, rstd, rows, D);
    const grads: Tensor[] = [fromStorage(x.device, new CpuStorage(dX), x.shape, 'float32')];
    if (weight) grads.push(fromStorage(x.device, new CpuStorage(Float32Array.from(dW)), weight.shape, 'float32'));
    if (bias) grads.push(fromStorage(x.device, new CpuStorage(Float32Array.from(dB)), bias.shape, 'float32'));
    return grads;
  });
}

/** Stands in for an absent weight or bias so the kernels stay monomorphic (length 0 = absent). */
const NONE = new Float32Array(0);

// The loops live in small functions of typed arrays and numbers only: V8 optimises them once
// instead of on-stack-replacing (and deoptimising) a larger function around them.
function lnForward(X: Float32Array, W: Float32Array, Bv: Float32Array, Y: Float32Array, mean: Float64Array, rstd: Float64Array, rows: number, D: number, eps: number): void {
  const hasW = W.length > 0;
  const hasB = Bv.length > 0;
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    let s = 0;
    for (let j = 0; j < D; j++) s += X[o + j]!;
    const mu = s / D;
    let v = 0;
    for (let j = 0; j < D; j++) {
      const d = X[o + j]! - mu;
      v += d * d;
    }
    const rs = 1 / Math.sqrt(v / D + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let j = 0; j < D; j++) {
      const y = (X[o + j]! - mu) * rs * (hasW ? W[j]! : 1);
      Y[o + j] = hasB ? y + Bv[j]! : y;
    }
  }
}

/** dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) with dxhat = g * w; dw = Σ g·xhat, db = Σ g. */
function lnBackward(X: Float32Array, W: Float32Array, G: Float32Array, dX: Float32Array, dW: Float64Array, dB: Float64Array, mean: Float64Array, rstd: Float64Array, rows: number, D: number): void {
  const hasW = W.length > 0;
  const wantW = dW.length > 0;
  const wantB = dB.length > 0;
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    const mu = mean[r]!;
    const rs = rstd[r]!;
    let a = 0;
    let b = 0;
    for (let j = 0; j < D; j++) {
      const xh = (X[o + j]! - mu) * rs;
      const gj = G[o + j]!;
      const dxh = hasW ? gj * W[j]! : gj;
      a += dxh;
      b += dxh * xh;
      if (wantW) dW[j] = dW[j]! + gj * xh;
      if (wantB) dB[j] = dB[j]! + gj;
    }
    a /= D;
    b /= D;
    for (let j = 0; j < D; j++) {
      const xh = (X[o + j]! - mu) * rs;
      const dxh = hasW ? G[o + j]! * W[j]! : G[o + j]!;
      dX[o + j] = rs * (dxh - a - xh * b);
    }
  }
}

/**
 * Rotary embedding on the CPU with the rotate-half pairing, in one pass each way:
 * y[f] = x[f]·cos[p,f] + r[f]·sin[p,f] with r = (-x[f + h], x[f - h]) for f < rd, y[f] = x[f] beyond.
 * `cos`/`sin` are the [N, rd] tables the composed op uses, so both paths see the same angles.
 */
export function rotaryCpu(x: Tensor, cos: Float32Array, sin: Float32Array, rd: number): Tensor {
  const op = 'rotary';
  const X = cpuData(x.storage(op)) as Float32Array;
  const n = x.shape[x.rank - 2]!;
  const dim = x.shape[x.rank - 1]!;
  const Y = f32Overwrite(X.length);
  ropeKernel(X, Y, cos, sin, n, dim, rd, 1);
  const out = fromStorage(x.device, new CpuStorage(Y), x.shape, 'float32');
  return record(out, op, [x], (g) => {
    // The rotation's transpose: rotate by -angle (sin negated).
    const G = cpuData(g.storage(op)) as Float32Array;
    const dX = f32Overwrite(G.length);
    ropeKernel(G, dX, cos, sin, n, dim, rd, -1);
    return [fromStorage(x.device, new CpuStorage(dX), x.shape, 'float32')];
  });
}

function ropeKernel(X: Float32Array, Y: Float32Array, cos: Float32Array, sin: Float32Array, n: number, dim: number, rd: number, sign: number): void {
  const half = rd / 2;
  const rows = dim === 0 ? 0 : X.length / dim;
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    const t = (r % n) * rd;
    for (let f = 0; f < half; f++) Y[o + f] = X[o + f]! * cos[t + f]! - sign * X[o + f + half]! * sin[t + f]!;
    for (let f = half; f < rd; f++) Y[o + f] = X[o + f]! * cos[t + f]! + sign * X[o + f - half]! * sin[t + f]!;
    for (let f = rd; f < dim; f++) Y[o + f] = X[o + f]!;
  }
}

/** GELU (tanh form) on the CPU whose backward is one pass: dx = g · gelu'(x). */
export function geluCpu(x: Tensor): Tensor {
  const op = 'gelu';
  const out = fromStorage(x.device, x.device.backend.unary('gelu', x.storage(op)), x.shape, 'float32');
  return record(out, op, [x], (g) => {
    const X = cpuData(x.storage(op)) as Float32Array;
    const G = cpuData(g.storage(op)) as Float32Array;
    const dX = f32Overwrite(X.length);
    geluBackward(X, G, dX);
    return [fromStorage(x.device, new CpuStorage(dX), x.shape, 'float32')];
  });
}

/** g * gelu'(x): SIMD for the bulk, unaryFn('geluGrad')'s formula for the rest. */
function geluBackward(X: Float32Array, G: Float32Array, dX: Float32Array): void {
  for (let i = geluGradWasm(X, G, dX); i < X.length; i++) {
    const x = X[i]!;
    const t = tanhFast(GELU_C * (x + 0.044715 * x * x * x));
    dX[i] = G[i]! * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x));
  }
}
