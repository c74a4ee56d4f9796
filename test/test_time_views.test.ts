import { describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { tensor } from "../src/ops/creation.ts";
import { getBackend } from "../src/backend/backend.ts";
import { IMAGENET_MEAN, IMAGENET_STD } from "../src/data/transforms.ts";
import type { RgbImage } from "../src/media/frame.ts";
import type { DMFormerOutput } from "../src/models/dmformer/model.ts";
import { BertTokenizer } from "../src/text/bert_tokenizer.ts";
import { segmentClip } from "../src/pipeline/segment.ts";
import { standInModel } from "./helpers/stand_in_model.ts";
import { DEFAULT_MASK_CRF, refineMaskLogits } from "../src/pipeline/mask_crf.ts";
import { parseTrainConfig } from "../src/pipeline/train_config.ts";
import {
  fuseViews,
  matchSlots,
  parseViewTransforms,
  reverseMotionWords,
  testTimeViews,
  undoView,
  viewCaption,
  viewFrames,
  type WindowResult,
} from "../src/pipeline/test_time_views.ts";

/** Frames of random pixels, so that a wrong mirror or order shows. */
function randomFrames(t: number, h: number, w: number, seed: number): RgbImage[] {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: t }, () => ({
    width: w,
    height: h,
    data: Uint8Array.from({ length: h * w * 3 }, () => Math.floor(next() * 256)),
  }));
}

const Q = 4;
/** Slot b's mask logits over a frame: red above its own level (a different mask per slot). */
const slotMap = (img: RgbImage, b: number) =>
  Float32Array.from({ length: img.width * img.height }, (_, p) => img.data[p * 3] / 255 - 0.2 * b);
/** Slot b's score in a frame: from its mean red and its index. */
const slotScore = (img: RgbImage, b: number) => {
  let red = 0;
  for (let p = 0; p < img.width * img.height; p++) red += img.data[p * 3];
  return 1 / (1 + Math.exp(-(red / (255 * img.width * img.height) - 0.5 + 0.3 * b)));
};
/** Slot b's box: the red-weighted centroid as (cx, cy), a fixed size. */
const slotBox = (img: RgbImage, b: number) => {
  let sx = 0, sy = 0, s = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const v = img.data[(y * img.width + x) * 3] + b;
      sx += v * (x + 0.5);
      sy += v * (y + 0.5);
      s += v;
    }
  }
  return [sx / s / img.width, sy / s / img.height, 0.2, 0.3];
};

/** What a model that sees `frames` with its slots rotated by `rot` would return, per frame. */
function equivariantResult(frames: RgbImage[], rot: number): WindowResult {
  const base = (j: number) => (j + rot) % Q;
  return {
    scores: frames.map((f) => Float32Array.from({ length: Q }, (_, j) => slotScore(f, base(j)))),
    boxes: frames.map((f) =>
      Float32Array.from(Array.from({ length: Q }, (_, j) => slotBox(f, base(j))).flat())
    ),
    masks: frames.map((f) => Array.from({ length: Q }, (_, j) => slotMap(f, base(j)))),
  };
}

describe("test-time views: the pieces", () => {
  test("views: the plain one first, then every combination", () => {
    expect(testTimeViews([])).toEqual([{ hflip: false, reverse: false }]);
    expect(testTimeViews(["reverse"])).toEqual([
      { hflip: false, reverse: false },
      { hflip: false, reverse: true },
    ]);
    expect(testTimeViews(["reverse", "hflip"])).toEqual([
      { hflip: false, reverse: false },
      { hflip: false, reverse: true },
      { hflip: true, reverse: false },
      { hflip: true, reverse: true },
    ]);
  });

  test("parsing lists and their errors", () => {
    expect(parseViewTransforms("hflip,reverse", "--tta")).toEqual(["hflip", "reverse"]);
    expect(parseViewTransforms(" reverse ", "--tta")).toEqual(["reverse"]);
    expect(parseViewTransforms("none", "--tta")).toEqual([]);
    expect(parseViewTransforms(["none"], "x")).toEqual([]);
    expect(parseViewTransforms([], "x")).toEqual([]);
    expect(() => parseViewTransforms("hflip,vflip", "--tta")).toThrow(
      '--tta: unknown view "vflip" (expected hflip, reverse or "none")',
    );
    expect(() => parseViewTransforms(["hflip", "hflip"], "cfg")).toThrow(
      'cfg: "hflip" given twice',
    );
    expect(() => parseViewTransforms(3, "cfg")).toThrow("cfg: expected a list");
  });

  test("sentences: mirrored swaps left and right, reversed turns motion around", () => {
    expect(reverseMotionWords("the square moving left")).toBe("the square moving right");
    expect(reverseMotionWords("the star moving up")).toBe("the star moving down");
    expect(reverseMotionWords("the circle moving down on the left")).toBe(
      "the circle moving up on the left",
    );
    expect(reverseMotionWords("the star that is not moving")).toBe("the star that is not moving");
    expect(reverseMotionWords("the car moving leftwards")).toBe("the car moving leftwards");
    const c = "the square moving left on the left";
    expect(viewCaption(c, { hflip: false, reverse: false })).toBe(c);
    expect(viewCaption(c, { hflip: true, reverse: false })).toBe(
      "the square moving right on the right",
    );
    expect(viewCaption(c, { hflip: false, reverse: true })).toBe(
      "the square moving right on the left",
    );
    expect(viewCaption(c, { hflip: true, reverse: true })).toBe(
      "the square moving left on the right",
    );
  });

  test("undoing a view brings an equivariant model's result back to the plain one", () => {
    const frames = randomFrames(3, 5, 7, 1);
    const plain = equivariantResult(frames, 0);
    for (const view of testTimeViews(["hflip", "reverse"])) {
      const back = undoView(equivariantResult(viewFrames(frames, view), 0), view, 7);
      expect(back.scores).toEqual(plain.scores);
      expect(back.masks).toEqual(plain.masks);
      back.boxes.forEach((b, f) =>
        b.forEach((v, i) => expect(v).toBeCloseTo(plain.boxes[f][i], 5))
      );
    }
    // without the undo the mirrored view's maps are not the plain ones
    const mirrored = equivariantResult(viewFrames(frames, { hflip: true, reverse: false }), 0);
    expect(mirrored.masks[0][0]).not.toEqual(plain.masks[0][0]);
    expect(viewFrames(frames, { hflip: false, reverse: true })[0]).toBe(frames[2]);
  });

  test("slots are matched by mask overlap; fusing averages the matched slots", () => {
    const frames = randomFrames(2, 6, 6, 2);
    const plain = equivariantResult(frames, 0);
    const rotated = equivariantResult(frames, 3);
    expect(matchSlots(plain.masks, rotated.masks)).toEqual([1, 2, 3, 0]);
    expect(fuseViews([plain, rotated])).toEqual(plain);
    // different values: the fused slot is the mean of the matched slots
    const scaled: WindowResult = {
      scores: rotated.scores.map((s) => s.map((v) => v / 2)),
      boxes: rotated.boxes,
      masks: rotated.masks.map((perSlot) => perSlot.map((m) => m.map((v) => v + 0.01))),
    };
    const fused = fuseViews([plain, scaled]);
    expect(fused.scores[1][2]).toBeCloseTo((plain.scores[1][2] + scaled.scores[1][3]) / 2, 6);
    expect(fused.masks[0][1][5]).toBeCloseTo(plain.masks[0][1][5] + 0.005, 6);
    expect(() => matchSlots(plain.masks, [plain.masks[0]])).toThrow("2 frames against 1");
  });

  test("a config's inference.testTimeAugment and clipFrames are read and checked", () => {
    const base = {
      model: "tiny",
      datasets: [{ type: "ref-shapes", root: "d" }],
      inference: { shortSide: 96, testTimeAugment: ["hflip", "reverse"] },
    };
    expect(parseTrainConfig(base, "", "c.json").inference.testTimeAugment).toEqual([
      "hflip",
      "reverse",
    ]);
    const plain = { ...base, inference: { shortSide: 96 } };
    expect(parseTrainConfig(plain, "", "c.json").inference.testTimeAugment).toEqual([]);
    const bad = { ...base, inference: { testTimeAugment: ["rotate"] } };
    expect(() => parseTrainConfig(bad, "", "c.json")).toThrow(
      'c.json: inference.testTimeAugment: unknown view "rotate"',
    );
    expect(parseTrainConfig(plain, "", "c.json").inference.clipFrames).toBe(0);
    const clips = { ...base, inference: { clipFrames: 5 } };
    expect(parseTrainConfig(clips, "", "c.json").inference.clipFrames).toBe(5);
    const badClips = { ...base, inference: { clipFrames: -1 } };
    expect(() => parseTrainConfig(badClips, "", "c.json")).toThrow("c.json: inference.clipFrames");
  });
});

/**
 * A stand-in for DMFormer whose outputs follow the pixels it is given exactly as a perfectly
 * mirror- and time-equivariant model's would, with its slots rotated by a function of the
 * sentence and the number of frames (so the slots of views and clips must be matched). Records
 * each call's tokens.
 */
function fakeModel(calls: number[][]) {
  const backend = getBackend("cpu");
  return standInModel(Q, async (video, captions) => {
    const [, t, , h, w] = video.frames.shape;
    const x = await video.frames.data();
    const seen: RgbImage[] = Array.from({ length: t }, (_, f) => {
      const data = new Uint8Array(h * w * 3);
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < h * w; p++) {
          const v = x[(f * 3 + c) * h * w + p] * IMAGENET_STD[c] + IMAGENET_MEAN[c];
          data[p * 3 + c] = Math.round(v * 255);
        }
      }
      return { width: w, height: h, data };
    });
    const tokens = Array.from(captions.inputIds.subarray(0, captions.padLength));
    calls.push(tokens);
    const r = equivariantResult(seen, (tokens.reduce((a, b) => a + b, 0) + t) % Q);
    const logits = r.scores.flatMap((s) => [...s].map((p) => Math.log(p / (1 - p))));
    const flat = (rows: Float32Array[]) => Float32Array.from(rows.flatMap((b) => [...b]));
    return {
      pred_logits: tensor(Float32Array.from(logits), [1, t, Q, 1], { backend }),
      pred_boxes: tensor(flat(r.boxes), [1, t, Q, 4], { backend }),
      pred_masks: tensor(flat(r.masks.flat()), [1, t, Q, h, w], { backend }),
      subjectChoice: { spans: [[1, 2]] },
    };
  });
}

function expectSameSegmentation(
  a: Awaited<ReturnType<typeof segmentClip>>,
  b: Awaited<ReturnType<typeof segmentClip>>,
) {
  expect(a.query).toBe(b.query);
  expect(a.masks).toEqual(b.masks);
  a.scores.forEach((s, f) => expect(s).toBeCloseTo(b.scores[f], 6));
  a.queryMeanScores.forEach((s, j) => expect(s).toBeCloseTo(b.queryMeanScores[j], 6));
  a.boxes.forEach((box, f) => box.forEach((v, i) => expect(v).toBeCloseTo(b.boxes[f][i], 4)));
}

describe("segmentClip with test-time views", () => {
  test("four views of an equivariant model give the plain view's result; sentences per view", async () => {
    const tokenizer = await BertTokenizer.load();
    const frames = randomFrames(3, 8, 10, 3);
    const calls: number[][] = [];
    const model = fakeModel(calls);
    const sentence = "the square moving left on the left";
    const options = { tokenizer, shortSide: null, windowFrames: 36 } as const;
    const plain = await segmentClip(model, frames, sentence, options);
    calls.length = 0;
    const windows: number[] = [];
    const fused = await segmentClip(model, frames, sentence, {
      ...options,
      testTimeAugment: ["hflip", "reverse"],
      onWindow: (_, start) => void windows.push(start),
    });
    expect(windows).toEqual([0]); // the hook sees the plain view only
    const words = calls.map((ids) => ids.slice(1, -1).map((id) => tokenizer.idToToken(id)));
    expect(words.map((w) => w.join(" "))).toEqual([
      "the square moving left on the left",
      "the square moving right on the left",
      "the square moving right on the right",
      "the square moving left on the right",
    ]);
    // the slots really are rotated between views
    expect(new Set(calls.map((ids) => ids.reduce((a, b) => a + b, 0) % Q)).size).toBeGreaterThan(1);
    expectSameSegmentation(fused, plain);
  });

  test("long videos: every window's views are matched and fused on their own", async () => {
    const tokenizer = await BertTokenizer.load();
    const frames = randomFrames(5, 6, 8, 4);
    const calls: number[][] = [];
    const options = { tokenizer, shortSide: null, windowFrames: 2 } as const;
    const plain = await segmentClip(fakeModel(calls), frames, "the star moving up", options);
    expect(calls.length).toBe(3);
    calls.length = 0;
    const fused = await segmentClip(fakeModel(calls), frames, "the star moving up", {
      ...options,
      testTimeAugment: ["reverse", "hflip"],
    });
    expect(calls.length).toBe(12);
    expectSameSegmentation(fused, plain);
  });

  test("clipFrames: clips matched to the whole-window anchor give the plain result", async () => {
    const tokenizer = await BertTokenizer.load();
    const frames = randomFrames(5, 6, 8, 5);
    const calls: number[][] = [];
    const options = { tokenizer, shortSide: null, windowFrames: 36 } as const;
    const plain = await segmentClip(fakeModel(calls), frames, "the big star", options);
    calls.length = 0;
    const clipped = await segmentClip(fakeModel(calls), frames, "the big star", {
      ...options,
      clipFrames: 2,
    });
    expect(calls.length).toBe(4); // the anchor, then clips of 2, 2 and 1 frames
    expectSameSegmentation(clipped, plain);
    calls.length = 0;
    const both = await segmentClip(fakeModel(calls), frames, "the big star", {
      ...options,
      clipFrames: 2,
      testTimeAugment: ["hflip"],
    });
    expect(calls.length).toBe(8);
    expectSameSegmentation(both, plain);
  });
});

describe("segmentClip recordSlots", () => {
  test("records follow their slots through clips, views and windows", async () => {
    const tokenizer = await BertTokenizer.load();
    const frames = randomFrames(5, 6, 8, 7);
    const calls: number[][] = [];
    // a record: the pass's number, the frame within the pass and the slot's score there
    const record = async (out: DMFormerOutput) => {
      const [, t, q] = out.pred_logits.shape;
      const logits = await out.pred_logits.data();
      const pass = calls.length - 1;
      return Array.from({ length: t }, (_, f) =>
        Array.from({ length: q }, (_, j) => ({
          pass,
          frame: f,
          score: 1 / (1 + Math.exp(-logits[f * q + j])),
        })));
    };
    type Rec = { pass: number; frame: number; score: number };
    for (
      const options of [
        { clipFrames: 2, testTimeAugment: ["hflip", "reverse"] as const },
        { clipFrames: 0, testTimeAugment: ["reverse"] as const, windowFrames: 3 },
      ]
    ) {
      calls.length = 0;
      const seg = await segmentClip(fakeModel(calls), frames, "the star moving up", {
        tokenizer,
        shortSide: null,
        ...options,
        recordSlots: record,
      });
      const views = options.testTimeAugment.length === 2 ? 4 : 2;
      const records = seg.slotRecords as Rec[][][];
      expect(records.length).toBe(5);
      for (const perSlot of records) {
        expect(perSlot.length).toBe(Q);
        for (const entries of perSlot) {
          expect(entries.length).toBe(views);
          // one record per view, each from another pass; anchors of clips are not recorded
          expect(new Set(entries.map((r) => r.pass)).size).toBe(views);
        }
      }
      if (options.clipFrames) {
        // the first pass of each view anchors its clips: 1 + 3 passes per view
        const anchors = [0, 4, 8, 12];
        expect(records.flat(2).some((r) => anchors.includes(r.pass))).toBe(false);
      }
      // an equivariant model: every recorded score is the fused score of its frame and slot, so
      // the mean over records is each slot's mean score
      for (let j = 0; j < Q; j++) {
        const all = records.flatMap((perSlot) => perSlot[j]);
        const mean = all.reduce((a, r) => a + r.score, 0) / all.length;
        expect(mean).toBeCloseTo(seg.queryMeanScores[j], 6);
      }
      // ... and every view's record of a frame and slot agrees (the chosen slot's: its score)
      records.forEach((perSlot, f) => {
        perSlot.forEach((entries) =>
          entries.forEach((r) => expect(r.score).toBeCloseTo(entries[0].score, 6))
        );
        expect(perSlot[seg.query][0].score).toBeCloseTo(seg.scores[f], 6);
      });
    }
  });

  test("a record list of the wrong size is an error", async () => {
    const tokenizer = await BertTokenizer.load();
    await expect(
      segmentClip(fakeModel([]), randomFrames(2, 6, 8, 8), "the star", {
        tokenizer,
        shortSide: null,
        recordSlots: () => [[1, 2]],
      }),
    ).rejects.toThrow("recordSlots should return 2 frames of 4 slot records");
  });
});

describe("segmentClip with maskCrf", () => {
  test("the chosen slot's logits are refined at the frame size, then thresholded", async () => {
    const tokenizer = await BertTokenizer.load();
    const frames = randomFrames(3, 12, 14, 6);
    const options = { tokenizer, shortSide: null, returnLogits: true } as const;
    const plain = await segmentClip(fakeModel([]), frames, "the red star", options);
    const settings = { ...DEFAULT_MASK_CRF, radius: 2, unaryWeight: 0.5 };
    const refined = await segmentClip(fakeModel([]), frames, "the red star", {
      ...options,
      maskCrf: settings,
      allQueries: true,
    });
    expect(refined.query).toBe(plain.query);
    frames.forEach((frame, f) => {
      const expected = refineMaskLogits(plain.maskLogits![f], frame, settings);
      expect(refined.maskLogits![f]).toEqual(expected);
      expect(refined.masks[f]).toEqual(Uint8Array.from(expected, (v) => (v > 0 ? 1 : 0)));
      expect(refined.queryMasks![refined.query][f]).toEqual(refined.masks[f]);
    });
    expect(refined.masks).not.toEqual(plain.masks);
    expect(plain.masks[0]).toEqual(Uint8Array.from(plain.maskLogits![0], (v) => (v > 0 ? 1 : 0)));
    await expect(
      segmentClip(fakeModel([]), frames, "the red star", { ...options, maskCrf: { radius: -1 } }),
    ).rejects.toThrow("maskCrf.radius: expected a number >= 0");
  });
});
