import type { Backend, Storage } from './backend.js';
import { TensorError } from './errors.js';
import { CpuBackend } from './cpu/backend.js';

export type DeviceKind = 'cpu' | 'webgpu';

export interface MemoryStats {
  /** Tensor storages currently alive on this device. */
  liveBuffers: number;
  bytes: number;
  /** Highest `bytes` seen since creation or the last `resetPeak()`. */
  peakBytes: number;
}

/**
 * A compute device: the CPU (reference; float64 accumulation) or a WebGPU adapter.
 * Memory stats count every tensor storage created on the device.
 */
export class Device {
  readonly kind: DeviceKind;
  readonly adapter: string;
  readonly isSoftware: boolean;
  readonly features: readonly string[];
  readonly limits: Readonly<Record<string, number>>;
  readonly backend: Backend;
  private live = 0;
  private bytes = 0;
  private peak = 0;

  constructor(backend: Backend, info: { isSoftware: boolean; features?: readonly string[]; limits?: Record<string, number> }) {
    this.backend = backend;
    this.kind = backend.kind;
    this.adapter = backend.adapter;
    this.isSoftware = info.isSoftware;
    this.features = info.features ?? [];
    this.limits = info.limits ?? {};
  }

  /** Called by Tensor when it takes ownership of a storage. */
  adopt(s: Storage): void {
    this.live++;
    this.bytes += s.size * 4;
    if (this.bytes > this.peak) this.peak = this.bytes;
  }

  /** Called by Tensor when it frees its storage. */
  release(s: Storage): void {
    this.live--;
    this.bytes -= s.size * 4;
    this.backend.free(s);
  }

  get stats(): MemoryStats {
    return { liveBuffers: this.live, bytes: this.bytes, peakBytes: this.peak };
  }

  resetPeak(): void {
    this.peak = this.bytes;
  }

  /** Wait until queued GPU work has finished. */
  sync(): Promise<void> {
    return this.backend.sync();
  }

  toString(): string {
    return `${this.kind} device: ${this.adapter}`;
  }

  [Symbol.for('Jupyter.display')](): Record<string, unknown> {
    return { 'text/plain': this.toString() };
  }
}

let cpu: Device | null = null;

/** The CPU device (always available, synchronous). */
export function cpuDevice(): Device {
  if (!cpu) cpu = new Device(new CpuBackend(), { isSoftware: false, features: ['wasm-simd-gemm'] });
  return cpu;
}

export interface GetDeviceOptions {
  /**
   * 'webgpu': use any WebGPU adapter, software (SwiftShader) included; fail if there is none.
   * 'cpu': the CPU device. Unset: a hardware GPU if there is one, else the CPU (said once).
   * The environment variable ATTNLAB_DEVICE=webgpu|cpu sets the preference when unset here.
   */
  prefer?: DeviceKind;
}

let gpuDevice: Device | null = null;
let gpuPending: Promise<Device | null> | null = null;
let saidFallback = false;
let defaultDevice: Device | null = null;

function envPreference(): DeviceKind | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['ATTNLAB_DEVICE'];
  return p === 'webgpu' || p === 'cpu' ? p : undefined;
}

async function openWebGPU(): Promise<Device | null> {
  const { requestWebGPU } = await import('./webgpu/gpu.js');
  const { WebGPUBackend } = await import('./webgpu/backend.js');
  const found = await requestWebGPU({ allowSoftware: true });
  if (!found) return null;
  const backend = new WebGPUBackend(found);
  return new Device(backend, { isSoftware: found.isSoftware, features: found.features, limits: found.limits });
}

/** The WebGPU device (software adapters included), or null when there is no adapter. Cached until lost. */
async function webgpu(): Promise<Device | null> {
  if (gpuDevice && !(gpuDevice.backend as { lost?: boolean }).lost) return gpuDevice;
  gpuDevice = null;
  if (!gpuPending) {
    gpuPending = openWebGPU().finally(() => {
      gpuPending = null;
    });
  }
  gpuDevice = await gpuPending;
  return gpuDevice;
}

export async function getDevice(options: GetDeviceOptions = {}): Promise<Device> {
  const prefer = options.prefer ?? envPreference();
  if (prefer === 'cpu') return cpuDevice();
  let dev: Device | null = null;
  let why = '';
  try {
    dev = await webgpu();
  } catch (e) {
    why = (e as Error).message;
  }
  if (prefer === 'webgpu') {
    if (!dev) throw new TensorError('getDevice', `no WebGPU adapter found${why ? ` (${why})` : ''}; in Node install Debian's chromium and libvulkan1 for the SwiftShader driver`);
    return dev;
  }
  if (dev && !dev.isSoftware) return dev;
  if (!saidFallback) {
    // Information, not a warning: said once per process (one kernel), on stdout.
    saidFallback = true;
    const reason = dev ? `the only WebGPU adapter is a software one (${dev.adapter}), slower than the CPU` : 'no WebGPU adapter was found';
    console.info(`attnlab: computing on the CPU: ${reason}. getDevice({ prefer: 'webgpu' }) or ATTNLAB_DEVICE=webgpu uses WebGPU anyway.`);
  }
  return cpuDevice();
}

/** The device new tensors go to when none is given (the CPU unless set). */
export function getDefaultDevice(): Device {
  return defaultDevice ?? cpuDevice();
}

export function setDefaultDevice(device: Device | null): void {
  defaultDevice = device;
}
