/**
 * Router analysis and head importance for a routed ViT: per-token head-usage entropy, head usage
 * by token type, load balance, accuracy drop when each head is ablated, and Spearman's rho.
 */
import type { ShapesBatch, ViT } from '@attnlab/models';
import { evaluateViT } from '@attnlab/models';
import { stats } from '@attnlab/tensor';
import { HeadsError } from '../errors.js';
import { MoHRouter } from './router.js';

export interface RouterStats {
  /** [layers][H]: share of tokens that picked each head. */
  usage: number[][];
  /** [layers]: mean over tokens of the entropy (nats) of the token's gate distribution over heads. */
  entropy: number[];
  /** [layers]: max usage / mean usage (1 = perfectly balanced). */
  imbalance: number[];
  /** [layers][types][H]: share of tokens of each type that picked each head. */
  byType: number[][][];
  /** Tokens of each type counted. */
  typeCounts: number[];
}

/** Token types of a shapes batch: 0 = class token, 1 = background patch, 2 = patch with ink. */
export const TOKEN_TYPES = ['cls', 'background', 'shape'] as const;

export function tokenTypes(model: ViT, data: ShapesBatch): Int32Array {
  const c = model.config;
  const [n, , S] = data.shape;
  const P = c.patchSize;
  const side = S / P;
  const out = new Int32Array(n * c.nTokens);
  for (let b = 0; b < n; b++) {
    for (let t = 1; t < c.nTokens; t++) {
      const py = Math.floor((t - 1) / side);
      const px = (t - 1) % side;
      let ink = 0;
      for (let y = 0; y < P; y++) for (let x = 0; x < P; x++) ink += data.ink[b * S * S + (py * P + y) * S + px * P + x]!;
      out[b * c.nTokens + t] = ink > 0 ? 2 : 1;
    }
  }
  return out;
}

/** Route `data` through the model and summarise each routed layer's picks. */
export async function routerStats(model: ViT, data: ShapesBatch, batch = 128): Promise<RouterStats> {
  const c = model.config;
  const routers = Array.from({ length: c.nLayers }, (_, l) => model.getRouter(l));
  routers.forEach((r, l) => {
    if (!(r instanceof MoHRouter)) throw new HeadsError('routerStats', `layer ${l} has no MoH router (attachMoH first)`);
  });
  const H = c.nHeads;
  const types = tokenTypes(model, data);
  const nTypes = TOKEN_TYPES.length;
  const usage = routers.map(() => new Float64Array(H));
  const byType = routers.map(() => Array.from({ length: nTypes }, () => new Float64Array(H)));
  const entropy = new Float64Array(c.nLayers);
  const typeCounts = new Array<number>(nTypes).fill(0);
  for (const t of types) typeCounts[t]!++;
  const [n, C, S] = data.shape;
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    // One router call per layer per run: record after each layer's call through its hook.
    const recs: { probs: Float32Array; picked: Uint8Array }[] = [];
    await model.run({ data: data.images.subarray(s * C * S * S, (s + m) * C * S * S), shape: [m, C, S, S] }, {
      hooks: [[(nm: string) => nm.endsWith('attn.hook_router'), (_t, ctx) => {
        const r = routers[ctx.layer!] as MoHRouter;
        recs[ctx.layer!] = { probs: r.last!.probs, picked: r.last!.picked };
      }]],
    });
    recs.forEach((rec, l) => {
      for (let r = 0; r < m * c.nTokens; r++) {
        const ty = types[s * c.nTokens + r]!;
        let z = 0;
        for (let h = 0; h < H; h++) if (rec.picked[r * H + h]) z += rec.probs[r * H + h]!;
        for (let h = 0; h < H; h++) {
          if (!rec.picked[r * H + h]) continue;
          usage[l]![h]! += 1;
          byType[l]![ty]![h]! += 1;
          const g = rec.probs[r * H + h]! / z;
          if (g > 0) entropy[l]! -= g * Math.log(g);
        }
      }
    });
  }
  const tokens = n * c.nTokens;
  const u = usage.map((a) => Array.from(a, (v) => v / tokens));
  return {
    usage: u,
    entropy: Array.from(entropy, (e) => e / tokens),
    imbalance: u.map((a) => Math.max(...a) / (a.reduce((x, y) => x + y, 0) / H)),
    byType: byType.map((rows) => rows.map((a, ty) => Array.from(a, (v) => (typeCounts[ty]! ? v / typeCounts[ty]! : 0)))),
    typeCounts,
  };
}

/** [layers][H]: accuracy lost when that one head's output is zeroed (HeadControls ablate: 'zero'). */
export async function ablationImportance(model: ViT, data: ShapesBatch): Promise<{ base: number; drop: number[][] }> {
  const c = model.config;
  const base = await evaluateViT(model, data);
  const drop: number[][] = [];
  for (let l = 0; l < c.nLayers; l++) {
    drop.push([]);
    for (let h = 0; h < c.nHeads; h++) {
      const before = model.heads.get({ layer: l, head: h });
      model.heads.set({ layer: l, head: h }, { ...before, ablate: 'zero' });
      try {
        drop[l]!.push(base - (await evaluateViT(model, data)));
      } finally {
        model.heads.set({ layer: l, head: h }, before);
      }
    }
  }
  return { base, drop };
}

/** Spearman's rank correlation (average ranks for ties; NaN when either side is constant): @attnlab/tensor's `stats.spearman`. */
export const spearman = stats.spearman;
