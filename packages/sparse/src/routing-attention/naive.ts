/** Float64 reference for the routing mask: enumerate, per query, the causal keys of its cluster (and itself). */
export function naiveRoutingKeep(qCluster: ArrayLike<number>, kCluster: ArrayLike<number>, nq: number, nk: number): (i: number, j: number) => boolean {
  const sets: Set<number>[] = [];
  for (let i = 0; i < nq; i++) {
    const pos = i + nk - nq;
    const s = new Set<number>();
    for (let j = 0; j <= Math.min(nk - 1, pos); j++) if (kCluster[j] === qCluster[i] || j === pos) s.add(j);
    sets.push(s);
  }
  return (i, j) => sets[i]!.has(j);
}

/** Dot products a within-cluster causal attention needs, counted pair by pair (the counter's attention part, divided by d). */
export function naiveRoutingPairs(qCluster: ArrayLike<number>, kCluster: ArrayLike<number>, nq: number, nk: number): number {
  const keep = naiveRoutingKeep(qCluster, kCluster, nq, nk);
  let n = 0;
  for (let i = 0; i < nq; i++) for (let j = 0; j < nk; j++) if (keep(i, j)) n++;
  return n;
}
