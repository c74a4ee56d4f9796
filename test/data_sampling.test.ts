import { describe, expect, test } from "vitest";
import { cleanCaption, swapLeftRight } from "../src/data/caption.ts";
import { sampleClipIndices } from "../src/data/clip_sampling.ts";
import { hashKey, Rng } from "../src/data/rng.ts";
import { SeededSampler } from "../src/data/sampler.ts";

describe("counter-based rng", () => {
  test("same key gives the same stream, other keys another", () => {
    const a = new Rng(7, "x", 3), b = new Rng(7, "x", 3), c = new Rng(7, "x", 4);
    const draws = (r: Rng) => Array.from({ length: 8 }, () => r.nextUint32());
    const da = draws(a);
    expect(draws(b)).toEqual(da);
    expect(draws(c)).not.toEqual(da);
    expect(hashKey(1, 2)).not.toBe(hashKey(2, 1));
    expect(hashKey("1")).not.toBe(hashKey(1));
  });

  test("random, randint, sample and shuffle behave", () => {
    const rng = new Rng(1);
    const counts = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < 6000; i++) counts[rng.randint(0, 5)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
    for (let i = 0; i < 1000; i++) {
      const u = rng.random();
      expect(u >= 0 && u < 1).toBe(true);
    }
    const s = rng.sample(10, 4);
    expect(new Set(s).size).toBe(4);
    expect(s.every((v) => v >= 0 && v < 10)).toBe(true);
    const perm = rng.shuffle([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...perm].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(() => rng.randint(3, 2)).toThrow("rng: randint range [3, 2] is empty");
    expect(() => rng.sample(2, 3)).toThrow("cannot sample 3 distinct values from 2");
  });

  test("fork depends on the key only", () => {
    const a = new Rng(5), b = new Rng(5);
    a.nextUint32();
    expect(a.fork("k").nextUint32()).toBe(b.fork("k").nextUint32());
  });
});

describe("seeded sampler", () => {
  test("epochs are reproducible permutations; batches drop the last partial one", () => {
    const s1 = new SeededSampler(10, { seed: 42, batchSize: 3 });
    const s2 = new SeededSampler(10, { seed: 42, batchSize: 3 });
    const e0 = s1.order(0);
    expect([...e0].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s2.order(0)).toEqual(e0);
    expect(s1.order(1)).not.toEqual(e0);
    const batches = s1.batches(0);
    expect(batches.length).toBe(3);
    expect(batches.flat()).toEqual(e0.slice(0, 9));
    expect(s1.itemRng(2, 5).nextUint32()).toBe(s2.itemRng(2, 5).nextUint32());
    const plain = new SeededSampler(5, { seed: 1, shuffle: false, batchSize: 2, dropLast: false });
    expect(plain.batches(3)).toEqual([[0, 1], [2, 3], [4]]);
  });
});

describe("clip frame sampling (section 14.2)", () => {
  test("one frame is just the start", () => {
    expect(sampleClipIndices(4, 10, 1, new Rng(0))).toEqual([4]);
  });

  test("five frames: start, one local frame each side, two global frames, sorted", () => {
    for (let seed = 0; seed < 50; seed++) {
      const idx = sampleClipIndices(10, 30, 5, new Rng(seed));
      expect(idx.length).toBe(5);
      expect(idx).toEqual([...idx].sort((a, b) => a - b));
      expect(idx).toContain(10);
      const probe = new Rng(seed);
      const lo = 10 - probe.randint(1, 3), hi = 10 + probe.randint(1, 3);
      const rest = [...idx];
      for (const v of [10, lo, hi]) rest.splice(rest.indexOf(v), 1);
      // the two global frames are distinct and outside the local window (its max allowed)
      expect(rest.length).toBe(2);
      expect(rest[0]).not.toBe(rest[1]);
      for (const g of rest) expect(g < lo || g >= hi).toBe(true);
    }
  });

  test("the local frames clamp at the video ends", () => {
    const idx = sampleClipIndices(0, 30, 3, new Rng(3));
    expect(idx[0]).toBe(0);
    expect(idx[1]).toBe(0);
    expect(idx[2]).toBeGreaterThanOrEqual(1);
    expect(idx[2]).toBeLessThanOrEqual(3);
  });

  test("short videos repeat frames", () => {
    const idx = sampleClipIndices(0, 2, 5, new Rng(9));
    expect(idx.length).toBe(5);
    expect(idx.every((i) => i === 0 || i === 1)).toBe(true);
    expect(sampleClipIndices(0, 1, 5, new Rng(9))).toEqual([0, 0, 0, 0, 0]);
    expect(() => sampleClipIndices(5, 5, 5, new Rng(0))).toThrow("start 5 outside a 5-frame video");
  });
});

describe("captions", () => {
  test("cleaning and the flip swap", () => {
    expect(cleanCaption("  A  Man\tRiding\n a Horse ")).toBe("a man riding a horse");
    expect(swapLeftRight("the leftmost dog on the right")).toBe("the rightmost dog on the left");
  });
});
