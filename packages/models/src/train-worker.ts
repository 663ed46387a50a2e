/**
 * A data-parallel training worker (Node worker thread): a replica of the model whose parameters
 * view the main thread's SharedArrayBuffers. Each request carries a slice of the batch; the worker
 * runs forward and backward on it and writes its gradients into its shared gradient buffer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { cpuDevice, cpuView, mul, mulScalar, crossEntropy, scope, sum, tensor, useCpuMemory } from '@attnlab/tensor';
import { Transformer } from './transformer.js';
import type { WorkerInit, WorkerRequest, WorkerReply } from './train-parallel.js';

const init = workerData as WorkerInit;
const device = cpuDevice();
const state = new Map(init.params.map((p) => [p.name, { data: new Float32Array(p.buffer), shape: p.shape }]));
const model = new Transformer(init.config, { device, init: false });
model.loadStateDict(state);
for (const p of init.params) useCpuMemory(model.param(p.name), new Float32Array(p.buffer));
for (const c of init.choices) model.setAttention({ layer: c.layer, head: c.head }, c.name, c.options);
const grads = new Float32Array(init.gradBuffer);

parentPort!.on('message', (req: WorkerRequest) => {
  void (async () => {
    try {
      const shape = [req.rows, req.seqLen];
      const loss = await scope(async () => {
        const tokens = tensor(req.tokens, shape, { device, dtype: 'int32' });
        const targets = tensor(req.targets, shape, { device, dtype: 'int32' });
        const mask = tensor(req.lossMask, shape, { device });
        const logits = await model.run(tokens, { grad: true });
        const l = mulScalar(sum(mul(crossEntropy(logits, targets, { reduction: 'none' }), mask)), req.scale);
        l.backward();
        return await l.item();
      });
      let off = 0;
      for (const p of init.params) {
        const t = model.param(p.name);
        const n = t.size;
        if (t.grad) grads.set(cpuView(t.grad), off);
        else grads.fill(0, off, off + n);
        t.grad?.dispose();
        t.grad = null;
        off += n;
      }
      parentPort!.postMessage({ id: req.id, loss } satisfies WorkerReply);
    } catch (e) {
      parentPort!.postMessage({ id: req.id, error: (e as Error).stack ?? String(e) } satisfies WorkerReply);
    }
  })();
});
