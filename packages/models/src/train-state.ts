/**
 * Resumable training checkpoints on disk (Node): a folder with model.safetensors (parameters),
 * optimizer.safetensors (AdamW moments, `m.<param>` / `v.<param>`) and state.json (step, batch
 * generator state, losses, evaluations, early-stopping counters). Float32 values round-trip
 * exactly, so a resumed run is bit-identical to an uninterrupted one.
 */
import { ModelError } from './errors.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import type { TrainState } from './train.js';
import type { Transformer } from './transformer.js';

async function nodeFs(): Promise<typeof import('node:fs/promises')> {
  return import('node:fs/promises');
}

export async function saveTrainCheckpoint(folder: string, model: Transformer, state: TrainState, extra: Record<string, unknown> = {}): Promise<void> {
  const fs = await nodeFs();
  await fs.mkdir(folder, { recursive: true });
  const dir = folder.replace(/\/?$/, '/');
  const params = await model.stateDict();
  await fs.writeFile(dir + 'model.safetensors.tmp', writeSafetensors(new Map([...params].map(([n, p]) => [n, { shape: p.shape, data: p.data }]))));
  const names = model.namedParameters().map(([n]) => n);
  const moments = new Map<string, { shape: number[]; data: Float32Array }>();
  state.optimizer.moments.forEach((mv, i) => {
    if (!mv) return;
    moments.set(`m.${names[i]}`, { shape: [mv.m.length], data: mv.m });
    moments.set(`v.${names[i]}`, { shape: [mv.v.length], data: mv.v });
  });
  await fs.writeFile(dir + 'optimizer.safetensors.tmp', writeSafetensors(moments));
  const { optimizer, ...rest } = state;
  const json = { ...extra, ...rest, optimizer: { steps: optimizer.steps, lr: optimizer.lr }, params: names };
  await fs.writeFile(dir + 'state.json.tmp', JSON.stringify(json) + '\n');
  // Rename last: an interrupted save leaves the previous checkpoint whole.
  for (const f of ['model.safetensors', 'optimizer.safetensors', 'state.json']) await fs.rename(dir + f + '.tmp', dir + f);
}

/** Load a checkpoint's parameters into `model` and return the state for `train({ resume })`. */
export async function loadTrainCheckpoint(folder: string, model: Transformer): Promise<TrainState & Record<string, unknown>> {
  const fs = await nodeFs();
  const dir = folder.replace(/\/?$/, '/');
  const read = async (f: string): Promise<Uint8Array> => {
    try {
      return new Uint8Array(await fs.readFile(dir + f));
    } catch (e) {
      throw new ModelError('loadTrainCheckpoint', `cannot read ${dir + f}: ${(e as Error).message}`);
    }
  };
  const json = JSON.parse(new TextDecoder().decode(await read('state.json'))) as Record<string, unknown> & Omit<TrainState, 'optimizer'> & { optimizer: { steps: number; lr: number }; params: string[] };
  const names = model.namedParameters().map(([n]) => n);
  if (!Array.isArray(json.params) || json.params.join('\n') !== names.join('\n')) {
    throw new ModelError('loadTrainCheckpoint', `${dir}state.json lists parameters that differ from this model's (${names.length} parameters)`);
  }
  const weights = readSafetensors(await read('model.safetensors')).tensors;
  model.loadStateDict(new Map([...weights].map(([n, t]) => [n, { data: t.data as Float32Array, shape: t.shape }])));
  const opt = readSafetensors(await read('optimizer.safetensors')).tensors;
  const moments = names.map((n) => {
    const m = opt.get(`m.${n}`);
    const v = opt.get(`v.${n}`);
    return m && v ? { m: m.data as Float32Array, v: v.data as Float32Array } : null;
  });
  const { params: _p, optimizer, ...rest } = json;
  void _p;
  return { ...rest, optimizer: { steps: optimizer.steps, lr: optimizer.lr, moments } };
}
