/** A progress bar with ETA on a terminal; periodic plain lines otherwise. */
export class Progress {
  private readonly started = performance.now();
  private readonly startStep: number;
  private emaLoss: number | null = null;
  private lastLength = 0;

  constructor(
    readonly total: number,
    startStep: number,
    private readonly opts: {
      write: (s: string) => void;
      isTty: boolean;
      every: number;
      quiet?: boolean;
    },
  ) {
    this.startStep = startStep;
  }

  update(step: number, loss: number, _losses: Record<string, number>, epoch: number): void {
    this.emaLoss = this.emaLoss === null ? loss : 0.9 * this.emaLoss + 0.1 * loss;
    if (this.opts.quiet) return;
    const elapsed = (performance.now() - this.started) / 1000;
    const done = step - this.startStep;
    const perStep = done > 0 ? elapsed / done : 0;
    const eta = perStep * (this.total - step);
    const stats = `step ${step}/${this.total} epoch ${epoch} loss ${loss.toFixed(3)} ` +
      `(avg ${this.emaLoss.toFixed(3)}) ${perStep.toFixed(2)} s/step ETA ${formatDuration(eta)}`;
    if (this.opts.isTty) {
      const width = 24;
      const filled = Math.round((step / Math.max(1, this.total)) * width);
      const line = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${stats}`;
      this.opts.write(`\r${line}${" ".repeat(Math.max(0, this.lastLength - line.length))}`);
      this.lastLength = line.length;
    } else if (step % this.opts.every === 0 || step === this.total) {
      this.opts.write(`${new Date().toISOString()} ${stats}\n`);
    }
  }

  done(): void {
    if (this.opts.isTty && this.lastLength > 0 && !this.opts.quiet) this.opts.write("\n");
    this.lastLength = 0;
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(r).padStart(2, "0")}s`;
}
