import { describe, expect, test } from "vitest";
import {
  resizeBilinear,
  resizeMaskNearest,
  roundHalfEven,
  shortSideSize,
} from "../src/data/resize.ts";
import { bgrToHsvInPlace, hsvToBgrInPlace, wrapToUint8 } from "../src/data/photometric.ts";
import {
  augmentClip,
  checkValid,
  cropClip,
  evalTransform,
  hflipClip,
  normalizeFrames,
  scaleAugment,
  type WorkingClip,
  YTVOS_TRAIN_AUGMENT,
} from "../src/data/transforms.ts";
import { collateClips } from "../src/data/collate.ts";
import { AugmentedDataset } from "../src/data/augmented_dataset.ts";
import { maskBoxXyxy, xyxyToCxcywhNormalised } from "../src/data/boxes.ts";
import { Rng } from "../src/data/rng.ts";
import type { ClipSample, Dataset } from "../src/data/types.ts";

// 4x3 RGB with value (3 * pixel + channel) * 7, and PIL 9.4's bilinear resizes of it.
const SRC = Uint8Array.from({ length: 36 }, (_, i) => (i * 7) % 256);
const PIL_3x2 = [38, 45, 52, 64, 71, 78, 89, 96, 103, 143, 150, 157, 169, 176, 183, 194, 201, 208];
const PIL_6x5_FIRST_ROWS = [0, 7, 14, 11, 18, 25, 25, 32, 39, 38, 45, 52, 53, 60, 67, 63, 70, 77];

function makeSample(w: number, h: number, t: number, boxes: number[][]): ClipSample {
  const frames = Array.from({ length: t }, (_, f) => ({
    width: w,
    height: h,
    data: Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 13 + f * 50) % 256),
  }));
  const masks = boxes.map((b) => {
    const m = new Uint8Array(w * h);
    if (b.length) {
      for (let y = b[1]; y <= b[3]; y++) for (let x = b[0]; x <= b[2]; x++) m[y * w + x] = 1;
    }
    return m;
  });
  const boxesXyxy = new Float32Array(boxes.flatMap((b) => (b.length ? b : [0, 0, 0, 0])));
  return {
    frames,
    caption: "the dog on the left",
    targets: {
      masks,
      boxesXyxy,
      boxes: xyxyToCxcywhNormalised(boxesXyxy, w, h),
      valid: Uint8Array.from(boxes, (b) => (b.length ? 1 : 0)),
      labels: new Int32Array(t),
      size: [h, w],
      origSize: [h, w],
    },
    video: "v",
    expId: "0",
    frameIds: boxes.map((_, i) => String(i)),
    frameIndices: boxes.map((_, i) => i),
    objId: 1,
  };
}

const working = (s: ClipSample): WorkingClip => ({
  frames: s.frames,
  masks: s.targets.masks,
  boxes: s.targets.boxesXyxy.slice(),
  valid: s.targets.valid.slice(),
  caption: s.caption,
});

describe("resizing", () => {
  test("bilinear matches PIL exactly", () => {
    const img = { width: 4, height: 3, data: SRC };
    expect([...resizeBilinear(img, 3, 2).data]).toEqual(PIL_3x2);
    expect([...resizeBilinear(img, 6, 5).data.subarray(0, 18)]).toEqual(PIL_6x5_FIRST_ROWS);
    expect(resizeBilinear(img, 4, 3).data).toEqual(SRC);
  });

  test("nearest follows PyTorch's index rule", () => {
    const row = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);
    expect([...resizeMaskNearest(row(4), 4, 1, 2, 1)]).toEqual([0, 2]);
    expect([...resizeMaskNearest(row(3), 3, 1, 5, 1)]).toEqual([0, 0, 1, 1, 2]);
    expect([...resizeMaskNearest(row(2), 2, 1, 4, 1)]).toEqual([0, 0, 1, 1]);
  });

  test("short-side sizes with the cap and Python rounding", () => {
    expect(shortSideSize(1280, 720, 360)).toEqual([360, 640]);
    expect(shortSideSize(640, 480, 512, 640)).toEqual([480, 640]);
    expect(shortSideSize(1000, 500, 400, 640)).toEqual([320, 640]);
    expect(shortSideSize(500, 1000, 400, 640)).toEqual([640, 320]);
    expect(shortSideSize(16, 12, 360)).toEqual([360, 480]);
    expect([roundHalfEven(2.5), roundHalfEven(3.5), roundHalfEven(2.4)]).toEqual([2, 4, 2]);
  });
});

describe("clip transforms", () => {
  test("flip mirrors frames, masks and boxes and swaps left/right", () => {
    const s = makeSample(5, 2, 1, [[1, 0, 2, 1]]);
    const f = hflipClip(working(s));
    expect([...f.frames[0].data.subarray(0, 3)]).toEqual([...s.frames[0].data.subarray(12, 15)]);
    expect([...f.masks[0]]).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 1, 0]);
    expect([...f.boxes]).toEqual([3, 0, 4, 1]);
    expect(f.caption).toBe("the dog on the right");
  });

  test("crop shifts and clamps boxes, then the check invalidates empty boxes", () => {
    const s = makeSample(10, 10, 2, [[2, 2, 6, 6], [7, 7, 9, 9]]);
    const c = cropClip(working(s), 1, 3, 5, 4); // rows 1..5, cols 3..6
    expect([...c.boxes]).toEqual([0, 1, 3, 5, 4, 5, 4, 5]);
    expect(c.masks[0].reduce((a, b) => a + b, 0)).toBe(4 * 4);
    const checked = checkValid(c);
    expect([...checked.valid]).toEqual([1, 0]);
    expect([...checked.boxes.subarray(4)]).toEqual([0, 0, 0, 0]);
  });

  test("ImageNet normalisation to CHW", () => {
    const out = normalizeFrames([{
      width: 2,
      height: 1,
      data: new Uint8Array([255, 0, 128, 0, 0, 0]),
    }]);
    expect(out.length).toBe(6);
    expect(out[0]).toBeCloseTo((1 - 0.485) / 0.229, 5);
    expect(out[2]).toBeCloseTo((0 - 0.456) / 0.224, 5);
    expect(out[4]).toBeCloseTo((128 / 255 - 0.406) / 0.225, 5);
    expect(out[1]).toBeCloseTo(-0.485 / 0.229, 5);
  });

  test("photometric colour conversions follow OpenCV's float formulas", () => {
    const px = new Float32Array([0, 0, 255, 0, 255, 0, 255, 0, 0, 100, 100, 100]);
    bgrToHsvInPlace(px);
    expect(px[0]).toBeCloseTo(0, 4);
    expect(px[3]).toBeCloseTo(120, 4);
    expect(px[6]).toBeCloseTo(240, 4);
    expect([px[1], px[2], px[10], px[11]].map((v) => Math.round(v * 1000) / 1000)).toEqual([
      1,
      255,
      0,
      100,
    ]);
    const rng = new Rng(2);
    const colours = Float32Array.from({ length: 30 }, () => rng.uniform(0, 255));
    const back = colours.slice();
    bgrToHsvInPlace(back);
    hsvToBgrInPlace(back);
    back.forEach((v, i) => expect(v).toBeCloseTo(colours[i], 2));
    expect([wrapToUint8(-20.5), wrapToUint8(300.7), wrapToUint8(255.9)]).toEqual([236, 44, 255]);
  });

  test("augmentClip is deterministic per stream and keeps targets consistent", () => {
    const s = makeSample(24, 16, 3, [[2, 3, 9, 12], [10, 4, 20, 9], []]);
    const small = scaleAugment(YTVOS_TRAIN_AUGMENT, 0.1);
    expect(small.scales).toEqual([29, 32, 35, 39, 42, 45, 48, 51]);
    expect([small.cropMin, small.cropMax, small.maxSize]).toEqual([38, 60, 64]);
    const a = augmentClip(s, new Rng(4), small), b = augmentClip(s, new Rng(4), small);
    expect(a.frames).toEqual(b.frames);
    expect(a.targets.boxes).toEqual(b.targets.boxes);
    let flips = 0;
    for (let seed = 0; seed < 24; seed++) {
      const c = augmentClip(s, new Rng(seed), small);
      expect(c.frames.length).toBe(3 * 3 * c.height * c.width);
      expect(Math.max(c.height, c.width)).toBeLessThanOrEqual(64);
      expect(c.caption).toBe(c.flipped ? "the dog on the right" : "the dog on the left");
      if (c.flipped) flips++;
      expect(c.targets.valid[2]).toBe(0);
      expect([...c.targets.boxes.subarray(8)]).toEqual([0, 0, 0, 0]);
      for (let f = 0; f < 2; f++) {
        if (!c.targets.valid[f]) continue;
        const box = maskBoxXyxy(c.targets.masks[f], c.width, c.height)!;
        const scaled = c.targets.boxesXyxy.subarray(f * 4, f * 4 + 4);
        // the mask's inclusive box tracks the scaled box within about one source pixel
        const tol = 2 * Math.max(c.width / 24, c.height / 16) + 1;
        for (let k = 0; k < 4; k++) expect(Math.abs(box[k] - scaled[k])).toBeLessThanOrEqual(tol);
        const n = c.targets.boxes.subarray(f * 4, f * 4 + 4);
        expect(n[0]).toBeCloseTo((scaled[0] + scaled[2]) / 2 / c.width, 5);
        expect(n[3]).toBeCloseTo((scaled[3] - scaled[1]) / c.height, 5);
      }
    }
    expect(flips).toBeGreaterThan(4);
    expect(flips).toBeLessThan(20);
  });

  test("the booster copy keeps the unflipped caption and untouched frames", () => {
    const s = makeSample(24, 16, 2, [[2, 3, 9, 12], [10, 4, 20, 9]]);
    const c = augmentClip(s, new Rng(1), scaleAugment(YTVOS_TRAIN_AUGMENT, 0.1), {
      shortSide: 8,
      maxSize: 20,
    });
    expect([c.booster!.height, c.booster!.width]).toEqual([8, 12]);
    expect(c.booster!.caption).toBe("the dog on the left");
  });

  test("eval transform resizes the short side without a cap", () => {
    const c = evalTransform(makeSample(16, 12, 1, [[0, 0, 3, 3]]), 24);
    expect([c.height, c.width]).toEqual([24, 32]);
    expect([...c.targets.boxesXyxy]).toEqual([0, 0, 6, 6]);
  });
});

describe("collation", () => {
  test("pads to a multiple of 32 with a pad mask", () => {
    const one = augmentClip(makeSample(24, 16, 2, [[1, 1, 5, 5], [2, 2, 6, 6]]), new Rng(0), {
      ...scaleAugment(YTVOS_TRAIN_AUGMENT, 0.1),
      flipProb: 0,
      photometric: false,
    });
    const two = evalTransform(makeSample(70, 33, 2, [[1, 1, 5, 5], [2, 2, 6, 6]]), 33);
    const batch = collateClips([one, two]);
    const H = Math.ceil(Math.max(one.height, 33) / 32) * 32;
    const W = Math.ceil(Math.max(one.width, 70) / 32) * 32;
    expect([batch.b, batch.t, batch.height, batch.width]).toEqual([2, 2, H, W]);
    expect(batch.frames.length).toBe(2 * 2 * 3 * H * W);
    // clip 2, frame 1, channel 2, row 5 equals the source row, and padding is zero
    const src = two.frames.subarray(((1 * 3 + 2) * 33 + 5) * 70, ((1 * 3 + 2) * 33 + 5) * 70 + 70);
    const at = (((1 * 2 + 1) * 3 + 2) * H + 5) * W;
    expect(batch.frames.subarray(at, at + 70)).toEqual(src);
    expect(batch.frames[at + 70]).toBe(0);
    const m = (1 * 2 + 1) * H * W;
    expect([
      batch.padMask[m + 5 * W + 69],
      batch.padMask[m + 5 * W + 70],
      batch.padMask[m + 33 * W],
    ])
      .toEqual([0, 1, 1]);
    expect(batch.masks[m + 2 * W + 2]).toBe(two.targets.masks[1][2 * 70 + 2]);
    expect(batch.boxes.subarray(12, 16)).toEqual(two.targets.boxes.subarray(4, 8));
    expect(batch.captions).toEqual([one.caption, two.caption]);
    expect(batch.sizes).toEqual([[one.height, one.width], [33, 70]]);
    expect(() => collateClips([one, evalTransform(makeSample(8, 8, 1, [[0, 0, 1, 1]]))])).toThrow(
      "collate: clip 1 has 1 frames, clip 0 has 2",
    );
    expect(collateClips([two], { sizeDivisibility: 1 }).width).toBe(70);
  });
});

describe("augmented dataset", () => {
  test("redraws samples whose clip has no valid frame; epochs are reproducible", async () => {
    const samples = [
      makeSample(24, 16, 2, [[], []]),
      makeSample(24, 16, 2, [[2, 2, 12, 12], [3, 3, 13, 13]]),
    ];
    const dataset: Dataset = { length: 2, get: (i) => Promise.resolve(samples[i]) };
    const aug = new AugmentedDataset(dataset, {
      seed: 3,
      config: scaleAugment(YTVOS_TRAIN_AUGMENT, 0.1),
    });
    const a = await aug.get(0, 1);
    expect(a.targets.valid.some((v) => v === 1)).toBe(true);
    expect((await aug.get(0, 1)).frames).toEqual(a.frames);
    const never: Dataset = { length: 1, get: () => Promise.resolve(samples[0]) };
    await expect(new AugmentedDataset(never, { seed: 1, maxRedraws: 3 }).get(0)).rejects.toThrow(
      "no clip with a valid frame after 3 redraws from sample 0",
    );
  });
});
