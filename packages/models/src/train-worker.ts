/**
 * A data-parallel training worker (Node worker thread): a replica of the model whose parameters
 * view the main thread's SharedArrayBuffers. Each step request carries a slice of the batch; the
 * worker runs forward and backward on it, publishes its gradients, then sums, clips and updates
 * the parameters it owns (train-shard.ts) in step with the other threads.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { cpuDevice, cpuView, mul, mulScalar, crossEntropy, scope, sum, tensor, useCpuMemory } from '@attnlab/tensor';
import { Transformer } from './transformer.js';
import { Shard } from './train-shard.js';
import type { WorkerInit, WorkerRequest, WorkerReply } from './train-parallel.js';

const init = workerData as WorkerInit;
const device = cpuDevice();
const state = new Map(init.params.map((p) => [p.name, { data: new Float32Array(p.buffer), shape: p.shape }]));
const model = new Transformer(init.config, { device, init: false });
model.loadStateDict(state);
for (const p of init.params) useCpuMemory(model.param(p.name), new Float32Array(p.buffer));
for (const c of init.choices) model.setAttention({ layer: c.layer, head: c.head }, c.name, c.options);
const params = init.params.map((p) => model.param(p.name));
const shard = new Shard(init.shard, init.thread, params);

async function step(req: Extract<WorkerRequest, { kind: 'step' }>): Promise<number> {
  let loss = 0;
  if (req.rows > 0) {
    const shape = [req.rows, req.seqLen];
    loss = await scope(async () => {
      const tokens = tensor(req.tokens, shape, { device, dtype: 'int32' });
      const targets = tensor(req.targets, shape, { device, dtype: 'int32' });
      const mask = tensor(req.lossMask, shape, { device });
      const logits = await model.run(tokens, { grad: true });
      const l = mulScalar(sum(mul(crossEntropy(logits, targets, { reduction: 'none' }), mask)), req.scale);
      l.backward();
      return await l.item();
    });
  }
  shard.publish(params.map((p) => (p.grad ? cpuView(p.grad) : null)));
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
  // The barriers block this thread: it has nothing else to do until the step is over.
  shard.arrive('grads');
  shard.waitSync('grads', req.gen);
  shard.reduce();
  shard.arrive('squares');
  shard.waitSync('squares', req.gen);
  shard.update(req.clip, req.lr);
  return loss;
}

parentPort!.on('message', (req: WorkerRequest) => {
  void (async () => {
    try {
      if (req.kind === 'step') parentPort!.postMessage({ id: req.id, loss: await step(req) } satisfies WorkerReply);
      else if (req.kind === 'begin') {
        shard.begin(req.optimizer);
        parentPort!.postMessage({ id: req.id } satisfies WorkerReply);
      } else parentPort!.postMessage({ id: req.id, state: await shard.state() } satisfies WorkerReply);
    } catch (e) {
      // Threads blocked at a barrier would wait for this one forever.
      if (req.kind === 'step') shard.abort();
      parentPort!.postMessage({ id: req.id, error: (e as Error).stack ?? String(e) } satisfies WorkerReply);
    }
  })();
});
