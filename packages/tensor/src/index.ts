/**
 * @attnlab/tensor — tensors on the CPU and WebGPU with reverse-mode autograd and AdamW.
 * Ops are plain functions (`add(a, b)`, `matmul(a, b)`); every op has the same semantics on
 * both devices and a gradient.
 */
import { gradOps } from './autograd.js';
import { add } from './ops/elementwise.js';
import { clone, onesLike } from './ops/create.js';

gradOps.add = (a, b) => add(a, b);
gradOps.onesLike = onesLike;
gradOps.clone = clone;

export type { DType, AnyTypedArray } from './dtype.js';
export type { Backend, Storage, UnaryOp, BinaryOp, ReduceOp, MatmulSpec } from './backend.js';
export { TensorError } from './errors.js';
export { sizeOf, stridesOf, broadcastShapes, type Shape } from './shape.js';
export { Device, getDevice, cpuDevice, getDefaultDevice, setDefaultDevice, type DeviceKind, type GetDeviceOptions, type MemoryStats } from './device.js';
export { Tensor, type NestedArray } from './tensor.js';
export { scope, keep } from './scope.js';
export { noGrad, isGradEnabled, type GradNode } from './autograd.js';
export { tensor, zeros, ones, full, zerosLike, onesLike, arange, clone, toDevice, fromStorage, type CreateOptions } from './ops/create.js';
export {
  neg, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, elu, gelu, abs, sign, square, reciprocal, sin, cos,
  mulScalar, addScalar, powScalar, clamp, add, sub, mul, div, maximum, minimum, pow,
  equal, greater, greaterEqual, less, lessEqual, where, sumTo,
} from './ops/elementwise.js';
export { sum, mean, max, min, argmax, logsumexp, softmax, logSoftmax, variance, type Axes } from './ops/reduce.js';
export { reshape, permute, transpose, slice, concat, broadcastTo, unsqueeze, squeeze } from './ops/layout.js';
export { matmul, type MatmulOptions } from './ops/matmul.js';
export { matmulBias } from './ops/matmul-bias.js';
export { embedding, pick, crossEntropy, layerNorm, rmsNorm, rotary, type CrossEntropyOptions, type RotaryOptions } from './ops/nn.js';
export { customGrad, detach, cast } from './ops/custom.js';
export { Rng, manualSeed, type RngState, randn, rand, randint, type RandomOptions, mulberry32, gaussianArray } from './random.js';
export * as stats from './stats.js';
export { roundFp16, toFp16Values } from './fp16.js';
export type { LineFit } from './stats.js';
export { AdamW, type AdamWOptions, type AdamWState } from './optim/adamw.js';
export { clipGradNorm } from './optim/clip.js';
export { warmupCosine, type WarmupCosineOptions } from './optim/schedule.js';
export { configureNodeVulkan } from './webgpu/gpu.js';
export { shareCpuMemory, useCpuMemory, cpuView, addIntoCpu } from './cpu/shared.js';
