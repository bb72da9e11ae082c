// One progress bar per epoch on stderr: loss, accuracy, images/s and ETA. Falls back to a line
// every 10% when stderr is not a terminal (logs, CI).
export interface ProgressValues {
  loss?: number;
  acc?: number;
}

export class ProgressBar {
  private start = performance.now();
  private lastDraw = 0;
  private lastDecile = -1;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'img',
    private readonly width = 28,
  ) {}

  /** Leaves `ms` (time spent on something else, e.g. kernel tuning) out of the rate and ETA. */
  exclude(ms: number): void {
    this.start += ms;
  }

  update(done: number, images: number, values: ProgressValues = {}, force = false): void {
    const now = performance.now();
    const frac = this.total ? Math.min(1, done / this.total) : 1;
    const decile = Math.floor(frac * 10);
    if (this.tty ? !force && now - this.lastDraw < 100 : !force && decile === this.lastDecile) return;
    this.lastDraw = now;
    this.lastDecile = decile;
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? images / secs : 0;
    const eta = frac > 0 ? (secs / frac) * (1 - frac) : 0;
    const filled = Math.round(frac * this.width);
    const bar = '█'.repeat(filled) + '░'.repeat(this.width - filled);
    const parts = [
      `${this.label} ${bar} ${String(done).padStart(String(this.total).length)}/${this.total}`,
      values.loss !== undefined ? `loss ${values.loss.toFixed(4)}` : '',
      values.acc !== undefined ? `acc ${(values.acc * 100).toFixed(1)}%` : '',
      `${rate.toFixed(0)} ${this.unit}/s`,
      frac < 1 ? `ETA ${formatDuration(eta)}` : `${formatDuration(secs)}`,
    ].filter(Boolean);
    const line = parts.join('  ');
    if (this.tty) process.stderr.write(`\r${line}\x1b[K`);
    else process.stderr.write(`${line}\n`);
  }

  finish(done: number, images: number, values: ProgressValues = {}): void {
    // In a log, the last update may already have written the full bar.
    if (!this.tty && this.lastDecile === 10 && done >= this.total) return;
    this.update(done, images, values, true);
    if (this.tty) process.stderr.write('\n');
  }
}

export function formatDuration(secs: number): string {
  const s = Math.max(0, Math.round(secs));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}
