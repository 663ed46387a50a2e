/** Float64 reference for landmark retrieval: block means, scores and the top-k by sorting, as a keep predicate over (q, k). */
export function naiveLandmarkKeep(q: ArrayLike<number>, k: ArrayLike<number>, nq: number, nk: number, d: number, bs: number, topK: number, local: number): (i: number, j: number) => boolean {
  const nKB = Math.ceil(nk / bs);
  const means: number[][] = [];
  for (let b = 0; b < nKB; b++) {
    const rows = Array.from({ length: Math.min(nk, b * bs + bs) - b * bs }, (_, r) => b * bs + r);
    means.push(Array.from({ length: d }, (_, e) => rows.reduce((s, r) => s + k[r * d + e]!, 0) / rows.length));
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
