import { describe, expect, test } from "vitest";
import {
  boundaryF,
  boundPixels,
  evaluateSequence,
  regionJ,
  seg2bmap,
  seriesStats,
} from "../src/eval/jf.ts";

function square(size: number, y0: number, y1: number, x0: number, x1: number): Uint8Array {
  const m = new Uint8Array(size * size);
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) m[y * size + x] = 1;
  return m;
}

function ring(size: number, lo: number, hi: number): number[] {
  return [...square(size, lo, hi, lo, hi)].map((v, i) => {
    const y = Math.floor(i / size), x = i % size;
    return v && (y === lo || y === hi || x === lo || x === hi) ? 1 : 0;
  });
}

describe("region similarity J", () => {
  test("two 4x4 squares offset by one pixel: 9 / 23", () => {
    expect(regionJ(square(10, 2, 5, 2, 5), square(10, 3, 6, 3, 6))).toBeCloseTo(9 / 23, 12);
  });

  test("empty conventions: both empty 1, one empty 0", () => {
    const empty = new Uint8Array(16), one = square(4, 1, 1, 1, 1);
    expect(regionJ(empty, empty)).toBe(1);
    expect(regionJ(empty, one)).toBe(0);
    expect(regionJ(one, empty)).toBe(0);
  });

  test("void pixels are left out", () => {
    const gt = square(4, 0, 1, 0, 1), pred = square(4, 0, 1, 0, 2);
    expect(regionJ(pred, gt)).toBeCloseTo(4 / 6, 12);
    expect(regionJ(pred, gt, square(4, 0, 1, 2, 2))).toBe(1);
  });
});

describe("contour accuracy F", () => {
  test("seg2bmap of a square is the ring shifted up-left by half a pixel", () => {
    expect([...seg2bmap(square(10, 2, 5, 2, 5), 10, 10)]).toEqual(ring(10, 1, 5));
    // a single pixel gives its 2x2 block; a pixel in the last row/column compares one way only
    const block = [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    expect([...seg2bmap(square(4, 1, 1, 1, 1), 4, 4)]).toEqual(block);
    expect([...seg2bmap(square(3, 2, 2, 2, 2), 3, 3)]).toEqual([0, 0, 0, 0, 1, 1, 0, 1, 0]);
  });

  test("tolerance radius is ceil(0.008 * diagonal)", () => {
    expect(boundPixels(10, 10)).toBe(1);
    expect(boundPixels(1280, 720)).toBe(12);
    expect(boundPixels(854, 480)).toBe(8);
    expect(boundPixels(5, 5, 3)).toBe(3);
  });

  test("offset squares: 15 of 16 boundary pixels match each way, F = 15/16", () => {
    // rings [1..5]^2 and [2..6]^2 with a plus-shaped disk: only the far corners miss
    expect(boundaryF(square(10, 2, 5, 2, 5), square(10, 3, 6, 3, 6), 10, 10)).toBeCloseTo(
      15 / 16,
      12,
    );
  });

  test("boundaries three pixels apart: F = 0 at radius 1, 0.5 at radius 3", () => {
    const pred = square(10, 4, 4, 2, 2), gt = square(10, 4, 4, 6, 6);
    expect(boundaryF(pred, gt, 10, 10)).toBe(0);
    expect(boundaryF(pred, gt, 10, 10, { boundTh: 3 })).toBeCloseTo(0.5, 12);
  });

  test("empty conventions: both empty 1, exactly one empty 0", () => {
    const empty = new Uint8Array(100), one = square(10, 4, 5, 4, 5);
    expect(boundaryF(empty, empty, 10, 10)).toBe(1);
    expect(boundaryF(empty, one, 10, 10)).toBe(0);
    expect(boundaryF(one, empty, 10, 10)).toBe(0);
    expect(boundaryF(one, one, 10, 10)).toBe(1);
  });
});

describe("statistics", () => {
  test("mean, recall and DAVIS decay bins", () => {
    const s = seriesStats([1, 0.8, 0.6, 0.4, 0.2]);
    expect(s.mean).toBeCloseTo(0.6, 12);
    expect(s.recall).toBeCloseTo(0.6, 12);
    expect(s.decay).toBeCloseTo(0.9 - 0.3, 12);
    expect(seriesStats([1, 0, 1, 0]).decay).toBe(0);
  });

  test("a sequence: per-frame J and F and J&F", () => {
    const a = square(10, 2, 5, 2, 5), b = square(10, 3, 6, 3, 6), empty = new Uint8Array(100);
    const s = evaluateSequence([a, empty, a], [b, empty, empty], 10, 10);
    expect(s.j.map((v) => +v.toFixed(6))).toEqual([+(9 / 23).toFixed(6), 1, 0]);
    expect(s.f).toEqual([15 / 16, 1, 0]);
    expect(s.J.mean).toBeCloseTo((9 / 23 + 1) / 3, 12);
    expect(s.JF).toBeCloseTo(((9 / 23 + 1) / 3 + (15 / 16 + 1) / 3) / 2, 12);
    expect(() => evaluateSequence([a], [], 10, 10)).toThrow(
      "J&F: 1 predicted frames for 0 ground-truth frames",
    );
  });
});
