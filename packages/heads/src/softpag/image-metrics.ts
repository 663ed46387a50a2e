import { logSoftmax, noGrad, type Tensor } from '@attnlab/tensor';
import type { ImageInput } from '@attnlab/models';
import { HeadsError } from '../errors.js';

/** Image batches as the DiT sampler returns them: data [n, C, S, S] (C = 1 here). */
export interface ImageBatch {
  images: Float32Array;
  shape: readonly [number, number, number, number];
}

function dims(op: string, b: ImageBatch): [number, number] {
  const [n, C, S, S2] = b.shape;
  if (C !== 1 || S !== S2) throw new HeadsError(op, `expects square one-channel images [n, 1, S, S], got [${b.shape.join(', ')}]`);
  if (b.images.length !== n * S * S) throw new HeadsError(op, `images has ${b.images.length} values, shape [${b.shape.join(', ')}] needs ${n * S * S}`);
  return [n, S];
}

/**
 * "Structure": mean over images of the IoU of the shapes drawn in a and b (pixels above
 * `threshold`, 0 = mid-grey in the DiT's [−1, 1] space); two empty masks count as IoU 1.
 */
export function shapeIoU(a: ImageBatch, b: ImageBatch, threshold = 0): number {
  const [n, S] = dims('shapeIoU', a);
  const [m] = dims('shapeIoU', b);
  if (m !== n || b.shape[2] !== S) throw new HeadsError('shapeIoU', `batches differ: [${a.shape.join(', ')}] vs [${b.shape.join(', ')}]`);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let inter = 0;
    let union = 0;
    for (let j = i * S * S; j < (i + 1) * S * S; j++) {
      const x = a.images[j]! > threshold;
      const y = b.images[j]! > threshold;
      if (x && y) inter++;
      if (x || y) union++;
    }
    total += union === 0 ? 1 : inter / union;
  }
  return total / n;
}

/** "Texture": mean over images of the mean squared 4-neighbour Laplacian (interior pixels). */
export function highFrequencyEnergy(b: ImageBatch): number {
  const [n, S] = dims('highFrequencyEnergy', b);
  if (S < 3) throw new HeadsError('highFrequencyEnergy', `images must be at least 3x3, got ${S}x${S}`);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = i * S * S;
    const px = (y: number, x: number): number => b.images[o + y * S + x]!;
    let e = 0;
    for (let y = 1; y < S - 1; y++) for (let x = 1; x < S - 1; x++) e += (4 * px(y, x) - px(y - 1, x) - px(y + 1, x) - px(y, x - 1) - px(y, x + 1)) ** 2;
    total += e / ((S - 2) * (S - 2));
  }
  return total / n;
}

/** Mean over images of the pixel variance within each image (over-smoothing lowers it). */
export function pixelVariance(b: ImageBatch): number {
  const [n, S] = dims('pixelVariance', b);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const px = b.images.subarray(i * S * S, (i + 1) * S * S);
    let mu = 0;
    for (const v of px) mu += v;
    mu /= px.length;
    let va = 0;
    for (const v of px) va += (v - mu) ** 2;
    total += va / px.length;
  }
  return total / n;
}

/** A classifier over images: ViT-like, run() gives logits [n, classes]. */
export interface ImageClassifier {
  run(images: ImageInput): Promise<Tensor>;
}

/**
 * Classifier score of generated images: the mean log-probability of the class each was generated
 * for (images mapped from the DiT's [−1, 1] to the classifier's [0, 1]), and the accuracy.
 */
export async function classifierScore(classifier: ImageClassifier, batch: ImageBatch, labels: ArrayLike<number>): Promise<{ logProb: number; accuracy: number }> {
  const [n] = dims('classifierScore', batch);
  if (labels.length !== n) throw new HeadsError('classifierScore', `labels has ${labels.length} entries for ${n} images`);
  const logits = await classifier.run({ data: Float32Array.from(batch.images, (v) => (v + 1) / 2), shape: batch.shape });
  const lp = noGrad(() => logSoftmax(logits, -1));
  const data = (await lp.data()) as Float32Array;
  const K = logits.shape[1]!;
  logits.dispose();
  lp.dispose();
  let sum = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const row = data.subarray(i * K, (i + 1) * K);
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= K) throw new HeadsError('classifierScore', `label ${y} (image ${i}) is not a class of the classifier (0..${K - 1})`);
    sum += row[y]!;
    let arg = 0;
    for (let k = 1; k < K; k++) if (row[k]! > row[arg]!) arg = k;
    if (arg === y) correct++;
  }
  return { logProb: sum / n, accuracy: correct / n };
}
