/**
 * attention(q, k, v, opts): exact softmax / sigmoid attention with FlexAttention-style masks,
 * score mods, GQA, per-head gates, lse and recomputed probabilities, connected to autograd.
 */
import {
  customGrad, isGradEnabled, matmul, mulScalar, reshape, slice, softmax, sigmoid as sigmoidOp, addScalar, mul, sum, log,
  where, tensor, broadcastTo, logsumexp, zeros, add, TensorError, type Tensor,
} from '@attnlab/tensor';
import { BlockMask } from './blockmask.js';
import { perHead, toMaskMod, toScoreMod, MaskMod, type MaskLike, type ScoreFn, type ScoreMod } from './mods/mods.js';
import { ModError } from './mods/parse.js';
import { planFlash, type FlashPlan } from './flash-plan.js';
import { flashBackwardCpu, flashForwardCpu, probsCpu, type CaptureGrads } from './cpu/flash.js';
import { flashForwardWasm, wasmApplies } from './cpu/wasm.js';
import { flashBackwardWasm } from './cpu/wasm-backward.js';
import { cpuArray, fromHost, hostArray } from './tensor-io.js';
import { allocTensor, bufferOfTensor, gpuBackend } from './gpu/bridge.js';
import { destroyPlan, flashBackwardGpu, flashForwardGpu, prepareFlashGpu, uploadPlan } from './gpu/flash.js';
import { flashForwardTiledGpu, prepareFlashTiledGpu } from './gpu/flash-tiled.js';
import { varlenPlan, type VarlenPlan } from './varlen.js';
import { checkOptionNames } from './options.js';
import { toF16Checked } from './f16.js';
import { packQkvF16 } from './gpu/f16-pack.js';

const ATTENTION_OPTIONS = ['scale', 'mask', 'scoreMod', 'normalize', 'sigmoidBias', 'impl', 'headGate', 'returnProbs', 'kernel', 'cuSeqlens', 'cuSeqlensK', 'storage'] as const;

export interface ProbsRequest {
  /** Query heads to return (default all). */
  heads?: number[];
  /** Query rows [start, end) (default all). */
  rows?: [number, number];
  /** Batch index (default 0). */
  batch?: number;
}

export interface AttentionOptions {
  /** Default 1/sqrt(D). */
  scale?: number;
  /** A MaskMod / (b,h,q,k)=>boolean, a named mask, a BlockMask, or one mask per query head. */
  mask?: MaskLike | BlockMask | MaskLike[] | null;
  /** (s,b,h,q,k)=>number applied to scaled scores (ALiBi, softcap, temperature...). */
  scoreMod?: ScoreMod | ScoreFn | null;
  normalize?: 'softmax' | 'sigmoid';
  /** Bias added before the sigmoid (FlashSigmoid); default -log(Nk). */
  sigmoidBias?: number;
  /** 'flash' (default): tiled, never Nq x Nk; 'naive': materialised scores through tensor ops. */
  impl?: 'flash' | 'naive';
  /** Per query head multiplier on the head's output (0 ablates it). A tensor gets gradients. */
  headGate?: Tensor | ArrayLike<number> | null;
  /** Recompute probabilities for some heads/rows from lse: [heads, rows, Nk]. */
  returnProbs?: boolean | ProbsRequest;
  /** WebGPU forward kernel: 'rowwise' (default, one thread per query row) or 'tiled' (wgsl/flash-tiled.ts). */
  kernel?: 'rowwise' | 'tiled';
  /**
   * Packed documents along N (flash-attn varlen, fla's cu_seqlens): [0, n1, n1 + n2, ..., N], B = 1.
   * No query attends outside its document; masks and score mods see positions inside the document
   * (src/varlen.ts). A document mask / document BlockMask carries its own layout.
   */
  cuSeqlens?: ArrayLike<number> | null;
  /** Cumulative key lengths when Nq != Nk (default cuSeqlens). */
  cuSeqlensK?: ArrayLike<number> | null;
  /**
   * How q, k, v are stored for the kernels: 'f32' (default), or 'f16': rounded to float16 (nearest
   * even); WebGPU reads them as packed halves (half the bytes) and accumulates in f32, the CPU
   * runs its f32 kernels on the same rounded values. A finite value beyond ±65504 is an error
   * naming the tensor. Outputs and gradients stay float32 (gradients of the rounded inputs).
   * 'f16-native' (WebGPU, adapters with `shader-f16` only): the same stored halves read as WGSL
   * `f16` instead of unpacked, to compare the two on a GPU; refused where the feature is missing.
   */
  storage?: 'f32' | 'f16' | 'f16-native';
}

export interface AttentionResult {
  /** [B, Hq, Nq, Dv] (Dv: v's head dim) */
  out: Tensor;
  /** [B, Hq, Nq]: log-sum-exp of the scores (sigmoid: log of the row's total weight); -Infinity for empty rows. */
  lse: Tensor;
  /** [heads, rows, Nk] when returnProbs was given. */
  probs?: Tensor;
}

export interface AttnShape {
  B: number;
  Hq: number;
  Hkv: number;
  Nq: number;
  Nk: number;
  D: number;
  /** Value head dim (v's last dim; may differ from D). */
  Dv: number;
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Validate q/k/v and return the dims; errors name the op and shapes. */
export function checkQkv(op: string, q: Tensor, k: Tensor, v: Tensor): AttnShape {
  for (const [n, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (t.rank !== 4) throw new TensorError(op, `${n} must be [B, H, N, D], got ${fmt(t.shape)}`);
    if (t.dtype !== 'float32') throw new TensorError(op, `${n} must be float32, got ${t.dtype}`);
  }
  if (q.device !== k.device || q.device !== v.device) throw new TensorError(op, `q, k, v must be on one device (got ${q.device.kind}, ${k.device.kind}, ${v.device.kind})`);
  const [B, Hq, Nq, D] = q.shape as [number, number, number, number];
  const [Bk, Hkv, Nk, Dk] = k.shape as [number, number, number, number];
  if (Bk !== B) throw new TensorError(op, `batch of k ${fmt(k.shape)} does not match q ${fmt(q.shape)}`);
  if (Dk !== D) throw new TensorError(op, `head dim of k ${fmt(k.shape)} does not match q ${fmt(q.shape)}`);
  const Dv = v.shape[3]!;
  if (v.shape.slice(0, 3).some((d, i) => d !== k.shape[i])) throw new TensorError(op, `v ${fmt(v.shape)} must be [B, Hkv, Nk, Dv] with B, Hkv, Nk of k ${fmt(k.shape)}`);
  if ([B, Hq, Nq, D, Hkv, Nk, Dv].some((d) => d < 1)) throw new TensorError(op, `empty dimension in q ${fmt(q.shape)} / k ${fmt(k.shape)} / v ${fmt(v.shape)}`);
  if (Hq % Hkv !== 0) throw new TensorError(op, `query heads (${Hq}) must be a multiple of key/value heads (${Hkv}) for GQA/MQA`);
  return { B, Hq, Hkv, Nq, Nk, D, Dv };
}

export function resolveMask(op: string, mask: AttentionOptions['mask'], Hq: number): MaskMod | BlockMask | null {
  if (mask === undefined || mask === null) return null;
  if (mask instanceof BlockMask || mask instanceof MaskMod) return mask;
  if (Array.isArray(mask)) {
    if (mask.length !== Hq) throw new ModError(`${op}: got ${mask.length} per-head masks for ${Hq} query heads`);
    return perHead(mask);
  }
  return toMaskMod(mask as MaskLike);
}

function resolveScale(op: string, scale: number | undefined, D: number): number {
  const s = scale ?? 1 / Math.sqrt(D);
  if (typeof s !== 'number' || !Number.isFinite(s)) throw new TensorError(op, `scale must be a finite number, got ${String(scale)}`);
  return s;
}

function gateTensor(op: string, gate: AttentionOptions['headGate'], like: Tensor, Hq: number): Tensor | null {
  if (gate === undefined || gate === null) return null;
  if (typeof (gate as Tensor).shape === 'object' && typeof (gate as Tensor).rank === 'number') {
    const g = gate as Tensor;
    if (g.size !== Hq) throw new TensorError(op, `headGate has ${g.size} entries for ${Hq} query heads`);
    return reshape(g, [1, Hq, 1, 1]);
  }
  const arr = gate as ArrayLike<number>;
  if (arr.length !== Hq) throw new TensorError(op, `headGate has ${arr.length} entries for ${Hq} query heads`);
  return tensor(Float32Array.from(arr), [1, Hq, 1, 1], { device: like.device });
}

/** Shared planning for attention() and the probes. */
export function attentionPlan(op: string, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): { plan: FlashPlan; dims: AttnShape; sigmoid: boolean; sigBias: number; docs: VarlenPlan | null } {
  const dims = checkQkv(op, q, k, v);
  const scale = resolveScale(op, opts.scale, dims.D);
  const normalize = opts.normalize ?? 'softmax';
  if (normalize !== 'softmax' && normalize !== 'sigmoid') throw new TensorError(op, `normalize must be 'softmax' or 'sigmoid', got '${String(normalize)}'`);
  let sigBias = opts.sigmoidBias ?? -Math.log(dims.Nk);
  if (!Number.isFinite(sigBias)) throw new TensorError(op, `sigmoidBias must be finite, got ${sigBias}`);
  let mask = resolveMask(op, opts.mask, dims.Hq);
  let scoreMod = opts.scoreMod ? toScoreMod(opts.scoreMod) : null;
  // Packed documents: the mask and score mod read positions inside each document (varlen.ts).
  const docs = varlenPlan(op, dims.B, dims.Nq, dims.Nk, mask, scoreMod, { cuSeqlens: opts.cuSeqlens, cuSeqlensK: opts.cuSeqlensK, normalize, sigmoidBias: opts.sigmoidBias });
  if (docs) ({ mask, scoreMod, sigmoidBias: sigBias = sigBias } = docs);
  const plan = planFlash(dims, { mask, scoreMod, normalize, scale, sigmoidBias: sigBias, storage: storageOf(op, opts.storage, q.device) });
  return { plan, dims, sigmoid: normalize === 'sigmoid', sigBias, docs };
}

export async function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Promise<AttentionResult> {
  const op = 'attention';
  checkOptionNames(op, opts, ATTENTION_OPTIONS);
  const impl = opts.impl ?? 'flash';
  if (impl !== 'flash' && impl !== 'naive') throw new TensorError(op, `impl must be 'flash' or 'naive', got '${String(impl)}'`);
  if (impl === 'naive' && (opts.storage === 'f16' || opts.storage === 'f16-native')) throw new TensorError(op, "storage 'f16' needs impl 'flash' (the naive path computes through float32 tensor ops)");
  const { plan, dims, sigmoid, sigBias, docs } = attentionPlan(op, q, k, v, await withCaptureValues(opts));
  const gate = gateTensor(op, opts.headGate, q, dims.Hq);
  let out: Tensor;
  let lse: Tensor;
  if (impl === 'naive') ({ out, lse } = naiveAttention(q, k, v, plan, dims, sigmoid, sigBias, docs && !opts.scoreMod ? docs.rowBias : null));
  else ({ out, lse } = await flashAttention(q, k, v, plan, dims, sigmoid, sigBias, kernelOf(op, opts.kernel)));
  if (gate) {
    const gated = mul(out, gate);
    // The ungated output is an intermediate unless autograd needs it (gate or input gradients).
    if (!out.requiresGrad && !gate.requiresGrad) out.dispose();
    out = gated;
  }
  const res: AttentionResult = { out, lse };
  if (opts.returnProbs) {
    const req: ProbsRequest = opts.returnProbs === true ? {} : opts.returnProbs;
    res.probs = await probs(q, k, lse, plan, dims, sigmoid, sigBias, req);
  }
  return res;
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

/**
 * The SIMD backward recomputes p = exp(s - lse) from the float32 lse: exact while |lse| is small
 * (ulp(64) = 7.6e-6), wrong once it is large (|lse| = 1e8 loses log(Nk) entirely). Larger
 * scores, NaN rows and non-finite upstream gradients take the float64 JS backward, which
 * recomputes each row's max and sum itself.
 */
function wasmBackwardExact(lse: Float32Array, dOut: Float32Array, dLse: Float32Array | null): boolean {
  for (let i = 0; i < lse.length; i++) {
    const l = lse[i]!;
    if (!(Math.abs(l) <= 64) && l !== -Infinity) return false;
  }
  return allFinite(dOut) && (dLse === null || allFinite(dLse));
}

/** The error for a flash kernel the WebGPU device refused, naming the mods compiled into it. */
function kernelError(plan: FlashPlan, message: string): Error {
  const mods = [plan.mask ? `mask '${plan.mask.name}'` : '', plan.scoreMod ? `scoreMod '${plan.scoreMod.name}'` : ''].filter(Boolean);
  if (mods.length) return new ModError(`attention: the WebGPU kernel compiled from ${mods.join(' and ')} was rejected by the device: ${message}`);
  return new TensorError('attention', `the WebGPU flash kernel was rejected by the device: ${message}`);
}

/** ATTNLAB_CPU_KERNELS=js forces the plain JS forward (for comparison). */
function forceJs(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.['ATTNLAB_CPU_KERNELS'] === 'js';
}

/** The options with the scoreMod's captured tensors read at this call (their current values). */
async function withCaptureValues(opts: AttentionOptions): Promise<AttentionOptions> {
  if (!opts.scoreMod) return opts;
  const mod = toScoreMod(opts.scoreMod);
  const caps = mod.tensorCaptures;
  if (caps.length === 0) return opts;
  const values = new Map<number, ArrayLike<number>>();
  for (const c of caps) values.set(c.cap, await c.tensor.data());
  return { ...opts, scoreMod: mod.withCaptureData(values) };
}

/** Captured tensors of the plan's scoreMod that want a gradient (on q's device). */
function gradCaptures(plan: FlashPlan, dev: Tensor['device']): { cap: number; t: Tensor }[] {
  const out: { cap: number; t: Tensor }[] = [];
  for (const c of plan.scoreMod?.tensorCaptures ?? []) {
    if (!c.tensor.requiresGrad) continue;
    const t = c.tensor as unknown as Tensor;
    if (t.device !== dev) throw new TensorError('attention', `captured tensor '${c.name}' requires grad but is on ${t.device.kind} while q is on ${dev.kind}`);
    out.push({ cap: c.cap, t });
  }
  return out;
}

function storageOf(op: string, storage: AttentionOptions['storage'], device: Tensor['device']): 'f32' | 'f16' | 'f16-native' {
  if (storage === undefined || storage === 'f32' || storage === 'f16') return storage ?? 'f32';
  if (storage === 'f16-native') {
    const features = (device.backend as unknown as { gpu?: GPUDevice }).gpu?.features;
    if (device.kind === 'webgpu' && features?.has('shader-f16')) return storage;
    throw new TensorError(op, `storage 'f16-native' needs a WebGPU device with the 'shader-f16' feature (this ${device.kind} device has none); storage 'f16' stores the same halves on every device`);
  }
  throw new TensorError(op, `storage must be 'f32', 'f16' or 'f16-native', got '${String(storage)}'`);
}

function kernelOf(op: string, kernel: AttentionOptions['kernel']): 'rowwise' | 'tiled' {
  if (kernel === undefined || kernel === 'rowwise' || kernel === 'tiled') return kernel ?? 'rowwise';
  throw new TensorError(op, `kernel must be 'rowwise' or 'tiled', got '${String(kernel)}'`);
}

async function flashAttention(q: Tensor, k: Tensor, v: Tensor, plan: FlashPlan, dims: AttnShape, sigmoid: boolean, sigBias: number, kernel: 'rowwise' | 'tiled' = 'rowwise'): Promise<{ out: Tensor; lse: Tensor }> {
  const { B, Hq, Nq, D, Dv } = dims;
  const op = 'attention';
  const dev = q.device;
  const caps = isGradEnabled() ? gradCaptures(plan, dev) : [];
  const needGrad = isGradEnabled() && (q.requiresGrad || k.requiresGrad || v.requiresGrad || caps.length > 0);
  let outT: Tensor;
  let lseT: Tensor;
  /** Gradients for upstream dOut and/or dLse (null: zero). */
  let backward: (gOut: Tensor | null, gLse: Tensor | null) => Tensor[];
  if (dev.kind === 'webgpu') {
    const be = gpuBackend(dev, op);
    // Compile first (backward kernels too when gradients will be asked for): a shader the
    // device rejects must reject this call, not run as a no-op that returns zeros.
    await (kernel === 'tiled' ? prepareFlashTiledGpu : prepareFlashGpu)(be.gpu, plan, needGrad, (msg) => kernelError(plan, msg));
    // f16 storage: the kernels read packed copies (forward and backward); a value beyond float16
    // rejects below, once the pack's range flags are read back (overlapping the forward).
    const packed = plan.fwd.f16 ? await packQkvF16(be, q, k, v, (msg) => kernelError(plan, msg)) : null;
    be.flush();
    be.gpu.pushErrorScope('validation');
    const st = uploadPlan(be.gpu, plan);
    const o = allocTensor(dev, be, [B, Hq, Nq, Dv]);
    const l = allocTensor(dev, be, [B, Hq, Nq]);
    const f = allocTensor(dev, be, [2, B, Hq, Nq]);
    const [bq, bk, bv] = packed?.buffers ?? [q, k, v].map((t) => bufferOfTensor(be, t, op)) as [GPUBuffer, GPUBuffer, GPUBuffer];
    be.flush();
    (kernel === 'tiled' ? flashForwardTiledGpu : flashForwardGpu)(be.gpu, plan, st, bq, bk, bv, { out: o.buf, lse: l.buf, stats: f.buf });
    // Binding or dispatch errors (a capture table over the binding limit, say) reject too.
    const invalidP = be.gpu.popErrorScope();
    const rangeError = await packed?.checked.then(() => null, (e: unknown) => e);
    const invalid = await invalidP;
    if (invalid || rangeError) {
      destroyPlan(st);
      for (const t of [o.t, l.t, f.t, ...(packed?.tensors ?? [])]) t.dispose();
      throw rangeError ?? kernelError(plan, invalid!.message);
    }
    outT = o.t;
    lseT = l.t;
    if (!needGrad) {
      destroyPlan(st);
      f.t.dispose();
      // Safe after submit: the queued forward keeps its buffers alive.
      for (const t of packed?.tensors ?? []) t.dispose();
      return { out: outT, lse: lseT };
    }
    const ob = o.buf;
    const statsT = f.t;
    const packedT = packed?.tensors ?? []; // the backward reads the packed q, k, v too
    backward = (gOut, gLse) => {
      void packedT;
      const dq = allocTensor(dev, be, q.shape);
      const dk = allocTensor(dev, be, k.shape);
      const dv = allocTensor(dev, be, v.shape);
      const zero = gOut ? null : zeros([B, Hq, Nq, Dv], { device: dev });
      const dOutBuf = bufferOfTensor(be, gOut ?? zero!, 'attention backward');
      const dLseBuf = gLse ? bufferOfTensor(be, gLse, 'attention backward') : null;
      const cg = plan.capGrad.words > 0 ? zeros([plan.capGrad.words], { device: dev }) : null;
      be.flush();
      flashBackwardGpu(be.gpu, plan, st, bq, bk, bv, ob, bufferOfTensor(be, statsT, 'attention backward'), dOutBuf, dLseBuf, { dq: dq.buf, dk: dk.buf, dv: dv.buf }, cg ? bufferOfTensor(be, cg, 'attention backward') : undefined);
      zero?.dispose();
      const capGrads = caps.map(({ cap, t }) => {
        const off = plan.capGrad.offsets.get(cap);
        return off === undefined || !cg ? zeros(t.shape, { device: dev }) : reshape(slice(cg, [off], [t.size]), t.shape);
      });
      cg?.dispose();
      return [dq.t, dk.t, dv.t, ...capGrads];
    };
  } else {
    let [qa, ka, va] = await Promise.all([hostArray(q, op), hostArray(k, op), hostArray(v, op)]);
    // f16 storage on the CPU: the same rounding and range check as WebGPU's pack kernel, then the f32 kernels.
    if (plan.fwd.f16) [qa, ka, va] = [toF16Checked('q', q, qa), toF16Checked('k', k, ka), toF16Checked('v', v, va)];
    // The SIMD kernel's exp clamps its argument, so it cannot be trusted with non-finite inputs:
    // those take the JS path, which propagates NaN exactly as the float64 reference.
    const fast = wasmApplies(D) && Dv === D && !forceJs() && allFinite(qa) && allFinite(ka) && allFinite(va);
    let r = fast ? flashForwardWasm(plan, qa, ka, va, sigmoid, sigBias) : flashForwardCpu(plan, qa, ka, va, sigmoid, sigBias);
    // A score mod can still make a NaN or +Infinity score from finite inputs: redo those in JS.
    let viaWasm = fast;
    if (fast && !allFinite(r.out)) {
      r = flashForwardCpu(plan, qa, ka, va, sigmoid, sigBias);
      viaWasm = false;
    }
    outT = fromHost(dev, r.out, [B, Hq, Nq, Dv]);
    lseT = fromHost(dev, r.lse, [B, Hq, Nq]);
    if (!needGrad) return { out: outT, lse: lseT };
    backward = (gOut, gLse) => {
      const dOut = gOut ? cpuArray(gOut, 'attention backward') : new Float32Array(r.out.length);
      const dLse = gLse ? cpuArray(gLse, 'attention backward') : null;
      if (caps.length > 0) {
        // Gradients into captured tensors: the float64 backward, scattering per read of the capture.
        const capGrads: CaptureGrads = { reads: plan.scoreMod!.captureGradEvaluators(Nq, dims.Nk), out: new Map(caps.map(({ cap, t }) => [cap, new Float64Array(t.size)])) };
        const gr = flashBackwardCpu(plan, qa, ka, va, r.out, r.lse, dOut, dLse, sigmoid, sigBias, capGrads);
        return [fromHost(dev, gr.dq, q.shape), fromHost(dev, gr.dk, k.shape), fromHost(dev, gr.dv, v.shape), ...caps.map(({ cap, t }) => fromHost(dev, Float32Array.from(capGrads.out.get(cap)!), t.shape))];
      }
      const gr = (viaWasm && wasmBackwardExact(r.lse, dOut, dLse) ? flashBackwardWasm : flashBackwardCpu)(plan, qa, ka, va, r.out, r.lse, dOut, dLse, sigmoid, sigBias);
      return [fromHost(dev, gr.dq, q.shape), fromHost(dev, gr.dk, k.shape), fromHost(dev, gr.dv, v.shape)];
    };
  }
  // Two autograd nodes: lse's backward only runs when lse feeds the loss.
  const inputs = [q, k, v, ...caps.map((c) => c.t)];
  const out = customGrad(outT, 'flashAttention', inputs, (g) => backward(g, null));
  const lse = customGrad(lseT, 'flashAttentionLse', inputs, (g) => backward(null, g));
  return { out, lse };
}

/** Materialised-scores attention through tensor ops (for comparison and benchmarks). */
function naiveAttention(q: Tensor, k: Tensor, v: Tensor, plan: FlashPlan, dims: AttnShape, sigmoid: boolean, sigBias: number, rowBias: Float32Array | null = null): { out: Tensor; lse: Tensor } {
  const { B, Hq, Hkv, Nq, Nk } = dims;
  // rowBias: packed documents' per-row sigmoid bias (the only score mod the naive path takes).
  if (plan.scoreMod && !rowBias) throw new TensorError('attention', "impl 'naive' does not support scoreMod; use impl 'flash'");
  const G = Hq / Hkv;
  const expand = (t: Tensor): Tensor => {
    const d = t.shape[3]!;
    return G === 1 ? t : reshape(broadcastTo(reshape(t, [B, Hkv, 1, Nk, d]), [B, Hkv, G, Nk, d]), [B, Hq, Nk, d]);
  };
  const ke = expand(k);
  const ve = expand(v);
  let s = mulScalar(matmul(q, ke, { transB: true }), plan.params.scale);
  let keep: Tensor | null = null;
  let rowAny: Tensor | null = null;
  if (plan.blockMask) {
    const bm = plan.blockMask;
    const Bm = bm.Bm;
    const Hm = bm.Hm;
    const dense = new Float32Array(Bm * Hm * Nq * Nk);
    const any = new Float32Array(Bm * Hm * Nq);
    for (let b = 0; b < Bm; b++) {
      for (let h = 0; h < Hm; h++) {
        const d = bm.toDense(b, h);
        const off = (b * Hm + h) * Nq * Nk;
        for (let i = 0; i < Nq * Nk; i++) dense[off + i] = d[i]!;
        for (let i = 0; i < Nq; i++) for (let j = 0; j < Nk; j++) if (d[i * Nk + j]) any[(b * Hm + h) * Nq + i] = 1;
      }
    }
    keep = tensor(dense, [Bm, Hm, Nq, Nk], { device: q.device });
    rowAny = tensor(any, [Bm, Hm, Nq, 1], { device: q.device });
    s = where(keep, s, -Infinity);
  }
  let p: Tensor;
  let lse: Tensor;
  if (sigmoid) {
    p = sigmoidOp(rowBias ? add(s, tensor(rowBias, [1, 1, Nq, 1], { device: q.device })) : addScalar(s, sigBias));
    if (keep) p = mul(p, keep);
    lse = log(sum(p, [-1], false));
  } else {
    p = softmax(s, -1);
    // A fully masked row is NaN from softmax (0 / 0): it attends to nothing (out 0, lse -Infinity).
    if (rowAny) p = where(rowAny, p, 0);
    lse = logsumexp(s, [-1], false);
  }
  const out = matmul(p, ve);
  return { out, lse };
}

async function probs(q: Tensor, k: Tensor, lse: Tensor, plan: FlashPlan, dims: AttnShape, sigmoid: boolean, sigBias: number, req: ProbsRequest): Promise<Tensor> {
  const heads = req.heads ?? Array.from({ length: dims.Hq }, (_, i) => i);
  const rows = req.rows ?? [0, dims.Nq];
  const b = req.batch ?? 0;
  for (const h of heads) if (!Number.isInteger(h) || h < 0 || h >= dims.Hq) throw new TensorError('attention', `returnProbs: head ${h} is out of range [0, ${dims.Hq})`);
  if (!(rows[0] >= 0 && rows[1] <= dims.Nq && rows[0] < rows[1])) throw new TensorError('attention', `returnProbs: rows [${rows.join(', ')}) are out of range for Nq = ${dims.Nq}`);
  if (!(Number.isInteger(b) && b >= 0 && b < dims.B)) throw new TensorError('attention', `returnProbs: batch ${b} is out of range`);
  let [qa, ka, la] = await Promise.all([hostArray(q, 'attention'), hostArray(k, 'attention'), hostArray(lse, 'attention')]);
  if (plan.fwd.f16) [qa, ka] = [toF16Checked('q', q, qa), toF16Checked('k', k, ka)];
  const p = probsCpu(plan, qa, ka, la, b, heads, rows, sigmoid, sigBias);
  return fromHost(q.device, p, [heads.length, rows[1] - rows[0], dims.Nk]);
}
