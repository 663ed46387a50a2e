/// <reference types="@webgpu/types" />
/**
 * Finding a WebGPU adapter: `navigator.gpu` in a browser window or Worker, the `webgpu` npm
 * package (Dawn) in Node. In Node we point Vulkan at Debian chromium's SwiftShader driver when no
 * driver is configured, so machines without a GPU still get a (software) adapter.
 */

export interface FoundGPU {
  device: GPUDevice;
  adapterDescription: string;
  isSoftware: boolean;
  features: string[];
  limits: Record<string, number>;
}

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

interface NodeProcess {
  versions?: { node?: string };
  env: Record<string, string | undefined>;
}

function nodeProcess(): NodeProcess | undefined {
  const p = (globalThis as { process?: NodeProcess }).process;
  return p?.versions?.node ? p : undefined;
}

let nodeGPU: Promise<GPU | null> | null = null;

/**
 * In Node, points the Vulkan loader at Debian chromium's SwiftShader driver (after any system
 * drivers) when nothing is configured. Dawn reads the variables from the C environment, which a
 * worker thread's `process.env` does not reach: hosts that use WebGPU from a worker thread call
 * this on the main thread before starting it.
 */
export async function configureNodeVulkan(): Promise<void> {
  const proc = nodeProcess();
  if (!proc) return;
  const fs = await import('node:fs');
  const env = proc.env;
  if (!env['VK_ICD_FILENAMES'] && !env['VK_DRIVER_FILES'] && fs.existsSync(SWIFTSHADER_ICD)) {
    // Lavapipe (lvp) is left out: Dawn refuses it (it lacks shaderUniform*ArrayDynamicIndexing) and
    // says so on stderr at every start; SwiftShader is the software adapter we use instead.
    const system = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d']
      .filter((d) => fs.existsSync(d))
      .flatMap((d) => fs.readdirSync(d).filter((f) => !/^lvp_icd/.test(f)).map((f) => `${d}/${f}`));
    env['VK_ICD_FILENAMES'] = [...system, SWIFTSHADER_ICD].join(':');
    // The Vulkan loader complains on every start without it.
    if (!env['XDG_RUNTIME_DIR']) env['XDG_RUNTIME_DIR'] = (await import('node:os')).tmpdir();
  }
}

async function gpuEntry(): Promise<GPU | null> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const proc = nodeProcess();
  if (!proc) return null;
  if (!nodeGPU) {
    nodeGPU = (async () => {
      await configureNodeVulkan();
      const mod = (await import(/* webpackIgnore: true */ 'webgpu' as string)) as {
        create: (flags: string[]) => GPU;
        globals: Record<string, unknown>;
      };
      Object.assign(globalThis, mod.globals);
      return mod.create([]);
    })();
  }
  return nodeGPU;
}

function describe(adapter: GPUAdapter): { text: string; software: boolean } {
  const info = adapter.info as GPUAdapterInfo & { type?: string; isFallbackAdapter?: boolean };
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length > 0);
  const joined = parts.join(' ');
  const fallback = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true || info.isFallbackAdapter === true;
  const softwareName = /swiftshader|llvmpipe|lavapipe|software|microsoft basic render/i.test(joined);
  // Dawn on SwiftShader leaves every info field empty: an adapter that names nothing is software.
  const software = fallback || softwareName || info.type === 'cpu' || parts.length === 0;
  const name = parts.length ? joined : 'SwiftShader (Vulkan)';
  return { text: `${name}${software ? ' — software adapter' : ''}`, software };
}

const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export async function requestWebGPU(options: { allowSoftware: boolean }): Promise<FoundGPU | null> {
  const gpu = await gpuEntry();
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return null;
  const { text, software } = describe(adapter);
  if (software && !options.allowSoftware) return null;
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMITS) requiredLimits[k] = adapter.limits[k];
  // subgroups: @attnlab/attention's tiled flash kernel reduces row statistics with subgroup shuffles.
  const requiredFeatures = (['shader-f16', 'subgroups'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const limits: Record<string, number> = {};
  for (const k of LIMITS) limits[k] = device.limits[k];
  return { device, adapterDescription: text, isSoftware: software, features: [...device.features], limits };
}
