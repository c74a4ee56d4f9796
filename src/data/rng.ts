/**
 * Counter-based random numbers: a stream is a 32-bit key plus a counter, and every draw is a hash
 * of (key, counter). Streams for (seed, epoch, index) are therefore independent of the order in
 * which samples are loaded, which keeps epochs reproducible with any number of workers.
 */

function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

function foldPart(h: number, part: number | string): number {
  if (typeof part === "string") {
    h = fmix32(h ^ 0x27d4eb2f ^ part.length);
    for (let i = 0; i < part.length; i++) h = fmix32(Math.imul(h ^ part.charCodeAt(i), 0x9e3779b1));
    return h;
  }
  if (!Number.isFinite(part)) throw new Error(`rng: key part ${part} is not a finite number`);
  const lo = part >>> 0;
  const hi = Math.floor(part / 4294967296) >>> 0;
  h = fmix32(Math.imul(h ^ lo, 0x9e3779b1) + 0x7f4a7c15);
  return fmix32(Math.imul(h ^ hi, 0x85ebca77) + 0x165667b1);
}

/** Hashes any mix of numbers and strings to a 32-bit stream key. */
export function hashKey(...parts: (number | string)[]): number {
  let h = 0x3c6ef372;
  for (const part of parts) h = foldPart(h, part);
  return h;
}

export class Rng {
  private counter = 0;
  readonly key: number;

  constructor(...keyParts: (number | string)[]) {
    this.key = hashKey(...keyParts);
  }

  /** An independent stream derived from this stream's key (not its position). */
  fork(...parts: (number | string)[]): Rng {
    return new Rng(this.key, "fork", ...parts);
  }

  nextUint32(): number {
    const c = this.counter++;
    return fmix32(
      fmix32(this.key ^ Math.imul(c, 0x9e3779b9)) + Math.imul(c ^ 0x5bd1e995, 0x27d4eb2d),
    );
  }

  /** Uniform in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.random();
  }

  /** Integer uniform in [low, high], both ends included (Python's random.randint). */
  randint(low: number, high: number): number {
    if (!(high >= low)) throw new Error(`rng: randint range [${low}, ${high}] is empty`);
    return low + Math.floor(this.random() * (high - low + 1));
  }

  /** True with probability p (Python's `random.random() < p`). */
  chance(p: number): boolean {
    return this.random() < p;
  }

  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("rng: choice from an empty list");
    return items[this.randint(0, items.length - 1)];
  }

  /** k distinct integers of [0, n), in draw order (Python's random.sample(range(n), k)). */
  sample(n: number, k: number): number[] {
    if (k > n || k < 0) throw new Error(`rng: cannot sample ${k} distinct values from ${n}`);
    const pool = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = this.randint(i, n - 1);
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    return pool.slice(0, k);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.randint(0, i);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}
