/**
 * Small numeric utilities for tests: a seeded PRNG, float32 rounding of test data and a
 * closeness check with readable failure messages. Nothing here calls the engine's ops.
 */

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` values uniform in [lo, hi], rounded to float32 so f32 tensors hold them exactly. */
export function uniform(n: number, seed: number, lo = -1, hi = 1): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * r()));
}

/** Integers uniform in [lo, hi). */
export function ints(n: number, seed: number, lo: number, hi: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => lo + Math.floor((hi - lo) * r()));
}

export function prod(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export interface Tolerance {
  rtol?: number;
  atol?: number;
}

function same(a: number, e: number, rtol: number, atol: number): boolean {
  if (Number.isNaN(e)) return Number.isNaN(a);
  if (!Number.isFinite(e)) return a === e;
  return Math.abs(a - e) <= atol + rtol * Math.abs(e);
}

/**
 * Throws unless `actual` matches `expected` elementwise: NaN matches NaN, infinities must
 * be equal, finite values within atol + rtol * |expected|. The message shows the worst entry.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-5, atol = 1e-6 }: Tolerance = {},
  what = "values",
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  }
  let worst = -1;
  let worstErr = -1;
  let bad = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!same(a, e, rtol, atol)) {
      bad++;
      const err = Number.isFinite(a - e) ? Math.abs(a - e) : Infinity;
      if (err > worstErr) {
        worstErr = err;
        worst = i;
      }
    }
  }
  if (bad > 0) {
    const show = (v: ArrayLike<number>) =>
      Array.from(v).slice(0, 24).map((x) => Number(x.toPrecision(7))).join(", ") +
      (v.length > 24 ? ", ..." : "");
    throw new Error(
      `${what}: ${bad}/${expected.length} entries differ (rtol ${rtol}, atol ${atol}); worst at ` +
        `${worst}: got ${actual[worst]}, expected ${expected[worst]}\n  got      [${
          show(actual)
        }]\n  expected [${show(expected)}]`,
    );
  }
}
