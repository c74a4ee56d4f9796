import { Rng } from "./rng.ts";
import {
  augmentClip,
  type AugmentConfig,
  type BoosterOptions,
  type TransformedClip,
  YTVOS_TRAIN_AUGMENT,
} from "./transforms.ts";
import type { Dataset } from "./types.ts";

export interface AugmentedDatasetOptions {
  seed: number;
  config?: AugmentConfig;
  booster?: BoosterOptions;
  /** Give up after this many redraws of clips without any valid frame. */
  maxRedraws?: number;
}

/**
 * Training view of a dataset: loads sample i, augments it, and (like the reference) draws
 * another random sample when no frame is valid afterwards. Everything is keyed by
 * (seed, epoch, index), so an epoch is reproducible in any loading order.
 */
export class AugmentedDataset {
  constructor(readonly dataset: Dataset, readonly options: AugmentedDatasetOptions) {}

  get length(): number {
    return this.dataset.length;
  }

  async get(index: number, epoch = 0): Promise<TransformedClip> {
    const config = this.options.config ?? YTVOS_TRAIN_AUGMENT;
    const maxRedraws = this.options.maxRedraws ?? 100;
    let current = index;
    for (let attempt = 0; attempt <= maxRedraws; attempt++) {
      const rng = new Rng(this.options.seed, "augment", epoch, index, attempt);
      const sample = await this.dataset.get(current, rng.fork("load"));
      const clip = augmentClip(sample, rng.fork("augment"), config, this.options.booster);
      if (clip.targets.valid.some((v) => v === 1)) return clip;
      current = rng.randint(0, this.dataset.length - 1);
    }
    throw new Error(
      `augmented dataset: no clip with a valid frame after ${maxRedraws} redraws from sample ${index}`,
    );
  }
}
