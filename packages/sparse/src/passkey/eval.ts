/** Scoring a model on passkey batches: exact-key accuracy per row, by needle distance. */
import type { Tensor } from '@attnlab/tensor';
import type { PasskeyBatch } from './task.js';

/** Whatever maps int32 tokens [B, N] to logits [B, N, V] (a Transformer's forward, a masked run, …). */
export type LogitsFn = (tokens: number[][]) => Promise<Tensor>;

export interface PasskeyScore {
  /** Rows whose every answer token is the argmax. */
  accuracy: number;
  /** Answer tokens right, over all answer tokens. */
  digitAccuracy: number;
  /** Per row: 1 when the whole key was right. */
  correct: Uint8Array;
  distances: Int32Array;
}

/** Greedy (teacher-forced) exact-key accuracy: the argmax at each scored position equals the target. */
export async function scorePasskey(logits: LogitsFn, batch: PasskeyBatch): Promise<PasskeyScore> {
  const { batchSize: B, seqLen: N } = batch;
  const rows = Array.from({ length: B }, (_, r) => Array.from(batch.tokens.subarray(r * N, (r + 1) * N)));
  const out = await logits(rows);
  const [, n, V] = out.shape as [number, number, number];
  if (n !== N) throw new RangeError(`scorePasskey: logits have ${n} positions, the batch ${N}`);
  const data = (await out.data()) as Float32Array;
  out.dispose();
  const correct = new Uint8Array(B);
  let right = 0;
  let all = 0;
  for (let r = 0; r < B; r++) {
    let ok = 1;
    for (let i = 0; i < N; i++) {
      if (!batch.evalMask[r * N + i]) continue;
      const at = (r * N + i) * V;
      let best = 0;
      for (let c = 1; c < V; c++) if (data[at + c]! > data[at + best]!) best = c;
      const hit = best === batch.targets[r * N + i];
      right += hit ? 1 : 0;
      all++;
      if (!hit) ok = 0;
    }
    correct[r] = ok;
  }
  return { accuracy: correct.reduce((a, b) => a + b, 0) / B, digitAccuracy: all ? right / all : 1, correct, distances: batch.distances };
}
