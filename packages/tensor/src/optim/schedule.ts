export interface WarmupCosineOptions {
  /** Peak learning rate reached at the end of warmup. */
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the cosine decay (default 0.1 * lr). */
  minLr?: number;
}

/** Linear warmup from 0 to lr, then cosine decay to minLr at totalSteps. `step` counts from 0. */
export function warmupCosine(options: WarmupCosineOptions): (step: number) => number {
  const { lr, warmupSteps, totalSteps } = options;
  const minLr = options.minLr ?? 0.1 * lr;
  return (step) => {
    if (warmupSteps > 0 && step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
    if (step >= totalSteps) return minLr;
    const t = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
    return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * t));
  };
}
