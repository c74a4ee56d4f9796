/**
 * A bounded job queue: `concurrency` jobs run, at most `maxWaiting` wait; a job that finds the
 * queue full is refused at once ({@link QueueFullError}), so a client can be told to retry
 * instead of piling up. A waiting job whose signal aborts leaves the queue without running.
 */

/** The queue has no free place; `retryAfterSec` is an estimate of when one frees up. */
export class QueueFullError extends Error {
  constructor(readonly retryAfterSec: number) {
    super("the server is busy: too many requests are waiting");
    this.name = "QueueFullError";
  }
}

/** A place in the queue, taken before the (possibly slow) upload is read. */
export interface Ticket {
  /** Waits for a running slot, then runs `job`; the place is released afterwards. */
  run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Gives the place back without running (idempotent; `run` releases by itself). */
  release(): void;
}

export class JobQueue {
  private running = 0;
  private admitted = 0;
  private waiters: (() => void)[] = [];
  private durations: number[] = [];
  private idleResolvers: (() => void)[] = [];

  constructor(readonly concurrency = 1, readonly maxWaiting = 4) {
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
      throw new Error(`queue: concurrency must be an integer >= 1, got ${concurrency}`);
    }
    if (!(Number.isInteger(maxWaiting) && maxWaiting >= 0)) {
      throw new Error(`queue: maxWaiting must be an integer >= 0, got ${maxWaiting}`);
    }
  }

  /** Jobs admitted and not finished (running or waiting). */
  get size(): number {
    return this.admitted;
  }

  get active(): number {
    return this.running;
  }

  /** Takes a place, or throws QueueFullError when concurrency + maxWaiting are taken. */
  admit(): Ticket {
    if (this.admitted >= this.concurrency + this.maxWaiting) {
      throw new QueueFullError(this.retryAfter());
    }
    this.admitted++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.admitted--;
      if (this.admitted === 0) this.idleResolvers.splice(0).forEach((r) => r());
    };
    return {
      release,
      run: async <T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> => {
        try {
          await this.acquire(signal);
          const start = performance.now();
          try {
            return await job();
          } finally {
            this.record(performance.now() - start);
            this.running--;
            this.waiters.shift()?.();
          }
        } finally {
          release();
        }
      },
    };
  }

  /** Resolves when no job is admitted (for graceful shutdown). */
  idle(): Promise<void> {
    if (this.admitted === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleResolvers.push(resolve));
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.running < this.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener("abort", abort);
        this.running++;
        resolve();
      };
      const abort = () => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal!.reason);
      };
      this.waiters.push(wake);
      signal?.addEventListener("abort", abort, { once: true });
    });
  }

  private record(ms: number): void {
    this.durations.push(ms);
    if (this.durations.length > 20) this.durations.shift();
  }

  /** Seconds until a place is likely free: the queue ahead times the mean job time. */
  private retryAfter(): number {
    const mean = this.durations.length
      ? this.durations.reduce((a, b) => a + b, 0) / this.durations.length
      : 1000;
    const ahead = Math.max(1, this.admitted - this.concurrency + 1);
    return Math.max(1, Math.ceil((mean * ahead) / this.concurrency / 1000));
  }
}
