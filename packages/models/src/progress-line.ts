/**
 * A one-line training progress display for terminals (scripts, not notebooks): steps/s, loss and
 * time left, redrawn in place on stderr at most a few times a second.
 */
interface Stream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): boolean;
}

function stderr(): Stream | null {
  const p = (globalThis as { process?: { stderr?: Stream } }).process;
  return p?.stderr ?? null;
}

/** m:ss or h:mm:ss */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The text of one progress line. */
export function progressText(step: number, total: number, stepsPerSecond: number, loss: number): string {
  const eta = stepsPerSecond > 0 ? (total - step) / stepsPerSecond : NaN;
  return `step ${step}/${total} | ${stepsPerSecond.toFixed(2)} steps/s | loss ${loss.toFixed(4)} | eta ${formatDuration(eta)}`;
}

export class ProgressLine {
  private readonly t0 = performance.now();
  private last = 0;
  private drawn = false;

  /** Whether to draw by default: stderr is a terminal and no kernel `progress()` exists. */
  static wanted(): boolean {
    return Boolean(stderr()?.isTTY) && typeof (globalThis as { progress?: unknown }).progress !== 'function';
  }

  constructor(private readonly total: number, private readonly firstStep: number, private readonly out: Stream | null = stderr()) {}

  update(step: number, loss: number): void {
    const now = performance.now();
    if (step < this.total && now - this.last < 250) return;
    this.last = now;
    const rate = (step - this.firstStep) / ((now - this.t0) / 1000);
    this.out?.write(`\r${progressText(step, this.total, rate, loss)}\x1b[K`);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) this.out?.write('\n');
  }
}
