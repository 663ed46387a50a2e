import type { Storage } from '../backend.js';
import { cpuData } from '../cpu/storage.js';
import type { Tensor } from '../tensor.js';
import type { WebGPUBackend } from '../webgpu/backend.js';

/** Hyper-parameters of one fused AdamW update (bias corrections folded in). */
export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 - beta1^t and 1 - beta2^t */
  c1: number;
  c2: number;
}

/**
 * One AdamW update of p, m and v in place, in a single pass (one GPU dispatch instead of a dozen
 * elementwise ops). p <- p * (1 - lr*wd) - lr * (m/c1) / (sqrt(v/c2) + eps).
 */
export function adamwUpdate(p: Tensor, g: Tensor, m: Storage, v: Storage, h: AdamWStep): void {
  const backend = p.device.backend;
  if (backend.kind === 'cpu') {
    const P = cpuData(p.storage('AdamW')) as Float32Array;
    const G = cpuData(g.storage('AdamW')) as Float32Array;
    const M = cpuData(m) as Float32Array;
    const V = cpuData(v) as Float32Array;
    const decay = 1 - h.lr * h.weightDecay;
    for (let i = 0; i < P.length; i++) {
      const gi = G[i]!;
      const mi = h.beta1 * M[i]! + (1 - h.beta1) * gi;
      const vi = h.beta2 * V[i]! + (1 - h.beta2) * gi * gi;
      M[i] = mi;
      V[i] = vi;
      P[i] = P[i]! * decay - (h.lr * (mi / h.c1)) / (Math.sqrt(vi / h.c2) + h.eps);
    }
    return;
  }
  const gpu = backend as WebGPUBackend;
  const f = new Float32Array([h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.c1, h.c2]);
  const meta = new Uint32Array(8);
  meta[0] = p.size;
  meta.set(new Uint32Array(f.buffer), 1);
  gpu.runKernel({
    key: 'adamw',
    code: ADAMW_WGSL,
    meta,
    inputs: [g.storage('AdamW')],
    outputs: [p.storage('AdamW'), m, v],
    workgroups: gpu.grid(p.size),
  });
}

const ADAMW_WGSL = `
@group(0) @binding(0) var<storage, read> mt: array<u32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> p: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * (nwg.x * 256u);
  if (i >= mt[0]) { return; }
  let lr = bitcast<f32>(mt[1]); let b1 = bitcast<f32>(mt[2]); let b2 = bitcast<f32>(mt[3]);
  let eps = bitcast<f32>(mt[4]); let wd = bitcast<f32>(mt[5]); let c1 = bitcast<f32>(mt[6]); let c2 = bitcast<f32>(mt[7]);
  let gi = g[i];
  let mi = b1 * m[i] + (1.0 - b1) * gi;
  let vi = b2 * v[i] + (1.0 - b2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = p[i] * (1.0 - lr * wd) - lr * (mi / c1) / (sqrt(vi / c2) + eps);
}`;
