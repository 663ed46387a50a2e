/**
 * @attnlab/attention as a notebook plugin. On load the package publishes its two registries
 * (attention variants, KV policies) under `globalThis[Symbol.for('attnlab.extension-points')]`,
 * so any plugin's `ctx.registerAttention(variant)` / `ctx.registerKVPolicy(name, factory)` lands
 * here without the kernel depending on this package; the kernel records each registration and
 * undoes it when that plugin is disposed. The plugin itself adds `%attention`, which lists both
 * registries. (The kernel's types are not imported: this package must not depend on the kernel.)
 */
import { getAttention, hasAttention, listAttention, registerAttention, unregisterAttention, type VariantInput } from './registry.js';
import { getKVPolicyFactory, listKVPolicies, registerKVPolicy, unregisterKVPolicy, type KVPolicyFactory } from './kv-policy.js';

/** The shape the kernel's ExtensionPoint has (get / set / delete plus a label). */
export interface RegistryPoint<T> {
  readonly label: string;
  get(name: string): T | undefined;
  set(name: string, item: T): void;
  delete(name: string): void;
}

export const attentionVariants: RegistryPoint<VariantInput> = {
  label: 'attention variant',
  get: (name) => (hasAttention(name) ? getAttention(name) : undefined),
  set: (name, item) => void registerAttention(name, item),
  delete: (name) => void unregisterAttention(name),
};

export const kvPolicies: RegistryPoint<KVPolicyFactory> = {
  label: 'KV policy',
  get: (name) => getKVPolicyFactory(name),
  set: (name, factory) => void registerKVPolicy(name, factory),
  delete: (name) => void unregisterKVPolicy(name),
};

const POINTS = Symbol.for('attnlab.extension-points');
function publish(kind: string, point: RegistryPoint<never>): void {
  const g = globalThis as unknown as Record<symbol, Map<string, unknown> | undefined>;
  (g[POINTS] ??= new Map()).set(kind, point);
}
publish('attention', attentionVariants as RegistryPoint<never>);
publish('kv-policy', kvPolicies as RegistryPoint<never>);

/** The context methods this plugin uses (a structural subset of the kernel's PluginContext). */
interface Context {
  registerMagic(name: string, magic: { help?: string; line(args: string, ctx: { print(text: string): void }): unknown }): unknown;
}

export const attnlabPlugin = {
  id: '@attnlab/attention',
  activate(ctx: Context): void {
    ctx.registerMagic('attention', {
      help: 'the registered attention variants and KV policies',
      line: (_args, m) => {
        const lines = listAttention().map((n) => `  ${n}${getAttention(n).description ? `  ${getAttention(n).description}` : ''}`);
        m.print(`attention variants:\n${lines.join('\n')}\nKV policies: ${listKVPolicies().join(', ')}`);
      },
    });
  },
};
