import { describe, expect, test } from "vitest";
import type { RgbImage } from "../src/media/frame.ts";
import { DEFAULT_MASK_CRF, maskCrfSettings, refineMaskLogits } from "../src/pipeline/mask_crf.ts";
import { parseTrainConfig } from "../src/pipeline/train_config.ts";

/** A w x h frame: a textured grey background, a red square at [x0, x1) x [y0, y1). */
function squareFrame(w: number, h: number, [x0, y0, x1, y1]: number[]): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = x >= x0 && x < x1 && y >= y0 && y < y1;
      const grey = 100 + ((x * 7 + y * 13) % 11);
      data.set(inside ? [220, 40, 40] : [grey, grey, grey + 5], (y * w + x) * 3);
    }
  }
  return { width: w, height: h, data };
}

/** Logits of +-`level` for a box mask. */
function boxLogits(w: number, h: number, [x0, y0, x1, y1]: number[], level: number) {
  return Float32Array.from({ length: w * h }, (_, i) => {
    const x = i % w, y = Math.floor(i / w);
    return x >= x0 && x < x1 && y >= y0 && y < y1 ? level : -level;
  });
}

const iou = (a: Float32Array, b: Float32Array) => {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] > 0 && b[i] > 0) inter++;
    if (a[i] > 0 || b[i] > 0) union++;
  }
  return inter / union;
};

describe("mask CRF", () => {
  test("a mask one pixel too large all round snaps to the square's colour edges", () => {
    const [w, h] = [32, 28];
    const square = [9, 8, 21, 19];
    const frame = squareFrame(w, h, square);
    const truth = boxLogits(w, h, square, 1);
    const rough = boxLogits(w, h, [8, 7, 22, 20], 0.5);
    expect(iou(rough, truth)).toBeLessThan(0.8);
    const refined = refineMaskLogits(rough, frame, maskCrfSettings({ unaryWeight: 1 }));
    expect(iou(refined, truth)).toBe(1);
    // and one pixel too small
    const small = boxLogits(w, h, [10, 9, 20, 18], 0.5);
    expect(iou(refineMaskLogits(small, frame, DEFAULT_MASK_CRF), truth)).toBe(1);
  });

  test("one mean-field step by hand on a 3x1 frame", () => {
    const frame: RgbImage = {
      width: 3,
      height: 1,
      data: Uint8Array.from([200, 0, 0, 190, 10, 0, 0, 0, 200]),
    };
    const unary = Float32Array.from([2, -0.5, -3]);
    const s = maskCrfSettings({
      iterations: 1,
      radius: 1,
      unaryWeight: 0.5,
      appearanceWeight: 3,
      appearanceSpatial: 2,
      appearanceColour: 20,
      smoothnessWeight: 0.7,
      smoothnessSpatial: 1.5,
    });
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    const pixel = (i: number) => Array.from(frame.data.subarray(3 * i, 3 * i + 3));
    const k = (i: number, j: number) => {
      const c2 = pixel(i).reduce((acc, v, c) => acc + (v - pixel(j)[c]) ** 2, 0);
      return 3 * Math.exp(-1 / 8) * Math.exp(-c2 / 800) + 0.7 * Math.exp(-1 / 4.5);
    };
    const q = (j: number) => 2 * sig(0.5 * unary[j]) - 1;
    const expected = [
      0.5 * unary[0] + k(0, 1) * q(1),
      0.5 * unary[1] + k(1, 0) * q(0) + k(1, 2) * q(2),
      0.5 * unary[2] + k(2, 1) * q(1),
    ];
    const got = refineMaskLogits(unary, frame, s);
    expected.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    // the red middle pixel joins the red foreground pixel, not the blue background one
    expect(got[1]).toBeGreaterThan(0);
  });

  test("pixels far from the outline keep their (scaled) logits; no outline, no change", () => {
    const [w, h] = [40, 40];
    const frame = squareFrame(w, h, [15, 15, 25, 25]);
    const rough = boxLogits(w, h, [16, 16, 24, 24], 2);
    const refined = refineMaskLogits(rough, frame, DEFAULT_MASK_CRF);
    const reach = 2 * DEFAULT_MASK_CRF.radius;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const far = x < 16 - reach - 1 || x > 23 + reach + 1 || y < 16 - reach - 1 ||
          y > 23 + reach + 1;
        const scaled = Math.fround(rough[y * w + x] * DEFAULT_MASK_CRF.unaryWeight);
        if (far) expect(refined[y * w + x]).toBe(scaled);
      }
    }
    const empty = new Float32Array(w * h).fill(-4);
    expect(refineMaskLogits(empty, frame, DEFAULT_MASK_CRF)).toEqual(empty.map((v) => v * 0.1));
    // a kernel too large to keep is rebuilt per chunk of pixels: the same result
    expect(refineMaskLogits(rough, frame, DEFAULT_MASK_CRF, 1000)).toEqual(refined);
    expect(refineMaskLogits(rough, frame, DEFAULT_MASK_CRF, 1)).toEqual(refined);
    const off = refineMaskLogits(rough, frame, { ...DEFAULT_MASK_CRF, iterations: 0 });
    expect(off).toEqual(rough);
  });

  test("settings: defaults, checks and one-line errors", () => {
    expect(maskCrfSettings()).toEqual(DEFAULT_MASK_CRF);
    expect(maskCrfSettings({ radius: 2 }).radius).toBe(2);
    expect(() => maskCrfSettings({ sigma: 3 })).toThrow(/maskCrf: unknown setting "sigma"/);
    expect(() => maskCrfSettings({ radius: 1.5 })).toThrow(/maskCrf.radius: expected a whole/);
    expect(() => maskCrfSettings({ unaryWeight: -1 })).toThrow(/maskCrf.unaryWeight: expected/);
    expect(() => maskCrfSettings({ appearanceColour: 0 })).toThrow(/appearanceColour: expected/);
    expect(() => maskCrfSettings("on")).toThrow(/expected true, false or an object/);
    const frame = squareFrame(4, 4, [1, 1, 2, 2]);
    expect(() => refineMaskLogits(new Float32Array(15), frame)).toThrow(
      /15 logits for a 4x4 frame/,
    );
  });

  test('a config\'s "inference.maskCrf": true, an object, false; errors name the key', () => {
    const parse = (maskCrf: unknown) =>
      parseTrainConfig(
        { model: "tiny", datasets: [{ type: "ref-shapes", root: "d" }], inference: { maskCrf } },
        "",
        "c.json",
      ).inference.maskCrf;
    expect(parse(undefined)).toBeNull();
    expect(parse(false)).toBeNull();
    expect(parse(true)).toEqual(DEFAULT_MASK_CRF);
    expect(parse({ iterations: 3 })).toEqual({ ...DEFAULT_MASK_CRF, iterations: 3 });
    expect(() => parse({ radius: -2 })).toThrow(/c.json: inference.maskCrf.radius: expected/);
  });
});
