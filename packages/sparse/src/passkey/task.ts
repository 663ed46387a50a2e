/**
 * Passkey prompts for the F3/F4 retrieval checks: BOS, random filler, "KEY d0 d1 … d(S-1)" at a
 * chosen depth, more filler, then "QUERY" and the key again. The model is scored on the S answer
 * tokens (predicted at QUERY and at the first S-1 answer tokens). Each digit token carries its
 * slot (digit value x at slot s is one token), so the lookup is content-addressed and a model
 * without positional encoding can learn it: what changes with length is only how much filler the
 * query must look past (attention dilution and, under a sparse mask, whether the needle is seen).
 * Tokens: 0 BOS, 1 KEY, 2 QUERY, 3 + s·digits + x the digits, filler from there to vocabSize - 1.
 */
import { TensorError, type Rng } from '@attnlab/tensor';

export interface PasskeyTaskOptions {
  /** Row length N (default 128). */
  seqLen?: number;
  /** Digits in the key (slots S, default 4). */
  keyLen?: number;
  /** Values per digit (default 10). */
  digits?: number;
  /** Vocabulary size (default 64); tokens past the digits are filler. */
  vocabSize?: number;
  /**
   * Distance from QUERY back to the first key digit, or a function drawing it (default: uniform
   * over every distance the row allows).
   */
  distance?: number | ((rng: Rng, maxDistance: number) => number);
  /**
   * Landmark layout (S3): the last position of every block of this many positions holds the LANDMARK
   * token (id 3 + S·digits; filler starts after it), except in the final block, which holds QUERY and
   * the answers. Distances that would put a landmark inside the needle are redrawn. Default: none.
   */
  landmarkEvery?: number;
}

/** The batch layout @attnlab/models' train/evaluate read (a structural copy of its Batch). */
export interface PasskeyBatch {
  batchSize: number;
  seqLen: number;
  tokens: Int32Array;
  targets: Int32Array;
  lossMask: Float32Array;
  evalMask: Float32Array;
  /** Per row: the distance QUERY − first digit, and the key's digit values. */
  distances: Int32Array;
  keys: Int32Array[];
}

export interface PasskeyTask {
  readonly name: 'passkey-slots';
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly params: { seqLen: number; keyLen: number; digits: number; vocabSize: number };
  /** Smallest and largest QUERY − first-digit distance a row of this length can hold. */
  readonly minDistance: number;
  readonly maxDistance: number;
  /** Position of QUERY in every row (answers follow it). */
  readonly queryPos: number;
  /** The LANDMARK token id and its positions (1 = landmark) when landmarkEvery is set. */
  readonly landmarkId: number | null;
  readonly landmarks: Uint8Array | null;
  sample(rng: Rng, batchSize: number): PasskeyBatch;
  tokenName(id: number): string;
}

export const BOS = 0;
export const KEY = 1;
export const QUERY = 2;

export function passkeyTask(o: PasskeyTaskOptions = {}): PasskeyTask {
  const N = o.seqLen ?? 128;
  const S = o.keyLen ?? 4;
  const D = o.digits ?? 10;
  const V = o.vocabSize ?? 64;
  for (const [name, x] of [['seqLen', N], ['keyLen', S], ['digits', D], ['vocabSize', V]] as const) {
    if (!Number.isInteger(x) || x < 1) throw new TensorError('passkeyTask', `${name} must be a positive integer, got ${String(x)}`);
  }
  const B = o.landmarkEvery ?? 0;
  if (o.landmarkEvery !== undefined && (!Number.isInteger(B) || B < 2 || B > N)) throw new TensorError('passkeyTask', `landmarkEvery must be an integer in 2..seqLen, got ${String(o.landmarkEvery)}`);
  const landmarkId = B ? 3 + S * D : null;
  const fillerLo = 3 + S * D + (B ? 1 : 0);
  if (fillerLo >= V) throw new TensorError('passkeyTask', `vocabSize ${V} leaves no filler token after ${S}x${D} digit tokens (needs > ${fillerLo})`);
  // Row: BOS, ..., KEY at p, digits p+1..p+S, ..., QUERY at N-S-1, answers N-S..N-1.
  const queryPos = N - S - 1;
  const minDistance = S + 1; // key digits directly before QUERY: QUERY - (p+1) with p + S = queryPos - 1
  const maxDistance = queryPos - 2; // KEY at position 1 right after BOS
  if (maxDistance < minDistance) throw new TensorError('passkeyTask', `seqLen ${N} is too short for a ${S}-digit key (needs >= ${2 * S + 4})`);
  const landmarks = B ? Uint8Array.from({ length: N }, (_, p) => (p % B === B - 1 && p < N - B ? 1 : 0)) : null;
  if (landmarks && queryPos < N - B) throw new TensorError('passkeyTask', `landmarkEvery ${B} must leave QUERY and the ${S} answers in the last block (needs >= ${S + 1})`);
  const clear = (first: number): boolean => !landmarks || landmarks.subarray(first - 1, first + S).every((x) => x === 0);
  const drawDistance = (rng: Rng): number => {
    const d = typeof o.distance === 'function' ? o.distance(rng, maxDistance) : o.distance ?? minDistance + rng.int(maxDistance - minDistance + 1);
    if (!Number.isInteger(d) || d < minDistance || d > maxDistance) throw new TensorError('passkeyTask', `distance ${String(d)} is outside ${minDistance}..${maxDistance} for seqLen ${N}`);
    return d;
  };
  return {
    name: 'passkey-slots', vocabSize: V, seqLen: N, params: { seqLen: N, keyLen: S, digits: D, vocabSize: V },
    minDistance, maxDistance, queryPos, landmarkId, landmarks,
    sample(rng, B) {
      const n = B * N;
      const b: PasskeyBatch = {
        batchSize: B, seqLen: N, tokens: new Int32Array(n), targets: new Int32Array(n), lossMask: new Float32Array(n), evalMask: new Float32Array(n),
        distances: new Int32Array(B), keys: [],
      };
      for (let r = 0; r < B; r++) {
        let dist = drawDistance(rng);
        for (let t = 0; !clear(queryPos - dist); t++) {
          if (t > 1000 || o.distance !== undefined && typeof o.distance !== 'function') throw new TensorError('passkeyTask', `distance ${dist} puts a landmark inside the needle`);
          dist = drawDistance(rng);
        }
        const key = Int32Array.from({ length: S }, () => rng.int(D));
        const row = b.tokens.subarray(r * N, (r + 1) * N);
        row[0] = BOS;
        for (let i = 1; i < N; i++) row[i] = fillerLo + rng.int(V - fillerLo);
        const first = queryPos - dist;
        if (landmarks) for (let p = 0; p < N; p++) if (landmarks[p]) row[p] = landmarkId!;
        row[first - 1] = KEY;
        for (let s = 0; s < S; s++) row[first + s] = 3 + s * D + key[s]!;
        row[queryPos] = QUERY;
        for (let s = 0; s < S; s++) row[queryPos + 1 + s] = 3 + s * D + key[s]!;
        for (let i = 0; i < N - 1; i++) b.targets[r * N + i] = row[i + 1]!;
        for (let i = queryPos; i < N - 1; i++) {
          b.lossMask[r * N + i] = 1;
          b.evalMask[r * N + i] = 1;
        }
        b.distances[r] = dist;
        b.keys.push(key);
      }
      return b;
    },
    tokenName(id) {
      if (id === BOS) return '<bos>';
      if (id === KEY) return 'KEY';
      if (id === QUERY) return 'QUERY';
      if (id === landmarkId) return 'LMK';
      if (id < 3 + S * D) return `d${Math.floor((id - 3) / D)}=${(id - 3) % D}`;
      return `f${id - fillerLo}`;
    },
  };
}
