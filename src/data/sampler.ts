import { Rng } from "./rng.ts";

export interface SamplerOptions {
  seed: number;
  shuffle?: boolean;
  batchSize?: number;
  /** Drop the last incomplete batch (the reference's training batch sampler does). */
  dropLast?: boolean;
}

/** Epoch orders and batches that depend only on (seed, epoch). */
export class SeededSampler {
  readonly seed: number;
  readonly shuffle: boolean;
  readonly batchSize: number;
  readonly dropLast: boolean;

  constructor(readonly length: number, options: SamplerOptions) {
    if (!Number.isInteger(length) || length < 0) throw new Error(`sampler: bad length ${length}`);
    this.seed = options.seed;
    this.shuffle = options.shuffle ?? true;
    this.batchSize = options.batchSize ?? 1;
    this.dropLast = options.dropLast ?? true;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new Error(`sampler: batchSize must be a positive integer, got ${this.batchSize}`);
    }
  }

  order(epoch: number): number[] {
    const order = Array.from({ length: this.length }, (_, i) => i);
    return this.shuffle ? new Rng(this.seed, "sampler-epoch", epoch).shuffle(order) : order;
  }

  get batchesPerEpoch(): number {
    return this.dropLast
      ? Math.floor(this.length / this.batchSize)
      : Math.ceil(this.length / this.batchSize);
  }

  batches(epoch: number): number[][] {
    const order = this.order(epoch);
    const out: number[][] = [];
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      out.push(order.slice(b * this.batchSize, (b + 1) * this.batchSize));
    }
    return out;
  }

  /** The augmentation stream of one sample in one epoch. */
  itemRng(epoch: number, index: number): Rng {
    return new Rng(this.seed, "sampler-item", epoch, index);
  }
}
