import { describe, expect, test } from "vitest";
import {
  drawCaption,
  overlayMask,
  paletteColor,
  type RgbImage,
  wrapText,
} from "../src/media/mod.ts";

function noise(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 5) * 11) % 256;
  return { width, height, data };
}

function changedPixels(a: RgbImage, b: RgbImage): Set<number> {
  const changed = new Set<number>();
  for (let i = 0; i < a.data.length; i++) {
    if (a.data[i] !== b.data[i]) changed.add(Math.floor(i / 3));
  }
  return changed;
}

describe("overlayMask", () => {
  const W = 20, H = 12;
  const frame = noise(W, H);
  // A 6x4 block at (5..10, 3..6) whose colour always differs from the red tint.
  frame.data.fill(0);
  const mask = new Uint8Array(W * H);
  for (let y = 3; y < 7; y++) for (let x = 5; x < 11; x++) mask[y * W + x] = 1;

  test("changes exactly the masked pixels", () => {
    const out = overlayMask(frame, mask, [255, 0, 0], 0.5);
    const expected = new Set([...mask.keys()].filter((p) => mask[p] !== 0));
    expect(changedPixels(frame, out)).toEqual(expected);
    expect(frame.data.every((v) => v === 0)).toBe(true); // input untouched
  });

  test("blends the interior and draws a solid contour", () => {
    const out = overlayMask(frame, mask, [200, 100, 0], 0.5);
    const at = (
      x: number,
      y: number,
    ) => [...out.data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3)];
    expect(at(7, 4)).toEqual([100, 50, 0]); // interior: half tint
    expect(at(5, 3)).toEqual([200, 100, 0]); // corner: contour
    expect(at(10, 5)).toEqual([200, 100, 0]); // right edge
    expect(at(4, 4)).toEqual([0, 0, 0]); // outside
  });

  test("palette masks colour each object by its index", () => {
    const labels = new Uint8Array(W * H);
    labels.fill(1, 0, W * 6);
    labels.fill(2, W * 6);
    const out = overlayMask(frame, labels, undefined, 1);
    expect([...out.data.subarray(0, 3)]).toEqual([128, 0, 0]);
    expect([...out.data.subarray((W * H - 1) * 3)]).toEqual([0, 128, 0]);
    expect(paletteColor(3)).toEqual([128, 128, 0]);
    expect(paletteColor(255)).toEqual([224, 224, 192]);
  });

  test("rejects mismatched masks", () => {
    expect(() => overlayMask(frame, new Uint8Array(5), [1, 2, 3])).toThrow(
      "overlay: mask has 5 values, expected 240 (20x12)",
    );
  });
});

describe("drawCaption", () => {
  test("writes white text on a darkened band at the top only", () => {
    const frame = { width: 120, height: 40, data: new Uint8Array(120 * 40 * 3).fill(100) };
    const out = drawCaption(frame, "a cat", { scale: 1 });
    // margin 2 + 1 line of 10 rows + margin 2 = 14-row band
    for (let y = 0; y < 40; y++) {
      const row = out.data.subarray(y * 120 * 3, (y + 1) * 120 * 3);
      const values = new Set(row);
      if (y >= 14) expect([...values]).toEqual([100]);
      else expect([...values].every((v) => v === 40 || v === 255)).toBe(true);
    }
    // "a" glyph top row is blank, its second row has pixels at columns 1..3.
    const white = (x: number, y: number) => out.data[(y * 120 + x) * 3] === 255;
    expect([1, 2, 3, 4, 5, 6].map((x) => white(x, 4))).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect([2, 3, 4, 5, 6].map((x) => white(x, 5))).toEqual([false, true, true, true, false]);
  });

  test("wraps long sentences and keeps the frame size", () => {
    expect(wrapText("a person riding a brown horse", 12)).toEqual([
      "a person",
      "riding a",
      "brown horse",
    ]);
    expect(wrapText("abcdefghij", 4)).toEqual(["abcd", "efgh", "ij"]);
    const frame = { width: 64, height: 96, data: new Uint8Array(64 * 96 * 3) };
    const out = drawCaption(frame, "a person riding a brown horse", {
      position: "bottom",
      scale: 1,
    });
    expect(out.data.length).toBe(frame.data.length);
    // 4 lines of 10 rows + 2 margins of 2 rows: the top 52 rows stay untouched.
    expect(out.data.subarray(0, 64 * 3 * 52).every((v) => v === 0)).toBe(true);
    expect(out.data.subarray(64 * 3 * 53).some((v) => v === 255)).toBe(true);
  });
});
