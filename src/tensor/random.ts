/**
 * Counter-based random numbers: value i of a stream is a pure function of (seed, i), so
 * every backend (CPU, WGSL, CUDA) produces identical numbers without sharing state.
 */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Uniform in [0, 1) with 24 random bits (exact in float32). */
export function uniformAt(seed: number, index: number): number {
  const h = pcgHash((pcgHash(seed >>> 0) ^ pcgHash(index >>> 0)) >>> 0);
  return (h >>> 8) / 16777216;
}

/** A seeded stream: hands out disjoint counter ranges. */
export class Generator {
  seed: number;
  offset = 0;

  constructor(seed = 0) {
    this.seed = seed >>> 0;
  }

  /** Reserves `n` numbers; returns (seed, first counter). */
  take(n: number): { seed: number; offset: number } {
    const r = { seed: this.seed, offset: this.offset };
    this.offset = (this.offset + n) >>> 0;
    return r;
  }

  state(): { seed: number; offset: number } {
    return { seed: this.seed, offset: this.offset };
  }

  setState(s: { seed: number; offset: number }): void {
    this.seed = s.seed >>> 0;
    this.offset = s.offset >>> 0;
  }
}

export const defaultGenerator = new Generator(0);

/** Reseeds the default generator (like torch.manual_seed). */
export function manualSeed(seed: number): void {
  defaultGenerator.seed = seed >>> 0;
  defaultGenerator.offset = 0;
}
