import type { Rng } from "./rng.ts";
import type { ClipSample, Dataset } from "./types.ts";

/** Several datasets end to end (the reference's "all" = RefCOCO + RefCOCO+ + RefCOCOg). */
export class ConcatDataset implements Dataset {
  private readonly offsets: number[] = [];
  readonly length: number;

  constructor(private readonly parts: Dataset[]) {
    let total = 0;
    for (const p of parts) {
      this.offsets.push(total);
      total += p.length;
    }
    this.length = total;
  }

  get(index: number, rng?: Rng): Promise<ClipSample> {
    if (!(index >= 0 && index < this.length)) {
      throw new Error(`concat dataset: sample ${index} out of range [0, ${this.length})`);
    }
    let k = this.parts.length - 1;
    while (this.offsets[k] > index) k--;
    return this.parts[k].get(index - this.offsets[k], rng);
  }
}
