/** Float64 reference for landmark retrieval: block means (or per-dimension maxima), scores and the top-k by sorting, as a keep predicate over (q, k). */
export function naiveLandmarkKeep(q: ArrayLike<number>, k: ArrayLike<number>, nq: number, nk: number, d: number, bs: number, topK: number, local: number, pool: 'mean' | 'max' = 'mean'): (i: number, j: number) => boolean {
  const nKB = Math.ceil(nk / bs);
  const means: number[][] = [];
  for (let b = 0; b < nKB; b++) {
    const rows = Array.from({ length: Math.min(nk, b * bs + bs) - b * bs }, (_, r) => b * bs + r);
    means.push(Array.from({ length: d }, (_, e) => (pool === 'max' ? Math.max(...rows.map((r) => k[r * d + e]!)) : rows.reduce((s, r) => s + k[r * d + e]!, 0) / rows.length)));
  }
  const keep: Set<number>[] = [];
  for (let i = 0; i < nq; i++) {
    const pos = i + nk - nq;
    const cands: { b: number; s: number }[] = [];
    for (let b = 0; (b + 1) * bs - 1 < pos - local + 1; b++) cands.push({ b, s: means[b]!.reduce((s, x, e) => s + x * q[i * d + e]!, 0) });
    cands.sort((x, y) => y.s - x.s || x.b - y.b);
    keep.push(new Set(cands.slice(0, topK).map((c) => c.b)));
  }
  return (i, j) => {
    const pos = i + nk - nq;
    return j <= pos && (pos - j < local || keep[i]!.has(Math.floor(j / bs)));
  };
}

/** Float64 grouped-softmax landmark attention of one head (q, k, v row-major [N, D]), written from the definition. */
export function naiveGroupedLandmark(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, N: number, D: number, bs: number, landmarks: ArrayLike<number>, topK?: number, scale = 1 / Math.sqrt(D)): Float64Array {
  const out = new Float64Array(N * D);
  const dot = (i: number, j: number): number => {
    let s = 0;
    for (let e = 0; e < D; e++) s += q[i * D + e]! * k[j * D + e]!;
    return s * scale;
  };
  for (let i = 0; i < N; i++) {
    const c = Math.floor(i / bs);
    let blocks = Array.from({ length: c }, (_, b) => b).filter((b) => landmarks[b * bs + bs - 1]);
    if (topK !== undefined) blocks = blocks.sort((a, b) => dot(i, b * bs + bs - 1) - dot(i, a * bs + bs - 1) || a - b).slice(0, topK);
    const outer = [...Array.from({ length: i - c * bs + 1 }, (_, t) => c * bs + t), ...blocks.map((b) => b * bs + bs - 1)];
    const mx = Math.max(...outer.map((j) => dot(i, j)));
    const z = outer.reduce((a, j) => a + Math.exp(dot(i, j) - mx), 0);
    const w = new Map<number, number>();
    for (let j = c * bs; j <= i; j++) w.set(j, Math.exp(dot(i, j) - mx) / z);
    for (const b of blocks) {
      const gate = Math.exp(dot(i, b * bs + bs - 1) - mx) / z;
      const members = Array.from({ length: bs - 1 }, (_, t) => b * bs + t);
      const m2 = Math.max(...members.map((j) => dot(i, j)));
      const z2 = members.reduce((a, j) => a + Math.exp(dot(i, j) - m2), 0);
      for (const j of members) w.set(j, gate * Math.exp(dot(i, j) - m2) / z2);
    }
    for (const [j, x] of w) for (let e = 0; e < D; e++) out[i * D + e] += x * v[j * D + e]!;
  }
  return out;
}
