import { describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { tensor } from "../src/ops/creation.ts";
import { getBackend } from "../src/backend/backend.ts";
import type { RgbImage } from "../src/media/frame.ts";
import { BertTokenizer } from "../src/text/bert_tokenizer.ts";
import { segmentClip } from "../src/pipeline/segment.ts";
import { standInModel } from "./helpers/stand_in_model.ts";
import { parseTrainConfig } from "../src/pipeline/train_config.ts";
import {
  DEFAULT_RELINK,
  relinkChoice,
  relinkOrder,
  relinkSlots,
} from "../src/pipeline/relink_slots.ts";

const H = 12, W = 24, T = 6, Q = 4;

/** A 3x3 square's mask logits (+4 inside, -4 outside) with its top-left corner at (x, y). */
function square(x: number, y: number): Float32Array {
  const m = new Float32Array(H * W).fill(-4);
  for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) m[(y + dy) * W + x + dx] = 4;
  return m;
}
/** Object A moves right along row 2 and B left along row 7, 3 pixels a frame: masks never overlap. */
const objectA = (f: number) => square(2 + 3 * f, 2);
const objectB = (f: number) => square(19 - 3 * f, 7);
const empty = () => new Float32Array(H * W).fill(-4);

/** Per frame, slots [A, B, -, -] up to frame 2, then the model hands A to slot 1 and B to slot 0. */
function swappingMasks(): Float32Array[][] {
  return Array.from({ length: T }, (_, f) => {
    const [a, b] = [objectA(f), objectB(f)];
    return f < 3 ? [a, b, empty(), empty()] : [b, a, empty(), empty()];
  });
}
/** Logit of A's slot: 3, then 2; B's: 1; the empty slots -4. */
function swappingLogits(): number[][] {
  return Array.from({ length: T }, (_, f) => {
    const a = f < 3 ? 3 : 2;
    return f < 3 ? [a, 1, -4, -4] : [1, a, -4, -4];
  });
}

describe("relinkOrder", () => {
  test("follows an object handed from one query to another (moving faster than its size)", () => {
    const order = relinkOrder(swappingMasks(), W);
    expect(order).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
      [0, 1, 2, 3],
      [1, 0, 2, 3],
      [1, 0, 2, 3],
      [1, 0, 2, 3],
    ]);
  });

  test("keeps the query order when the model keeps its objects, and below the margin", () => {
    const steady = Array.from({ length: T }, (_, f) => [objectA(f), objectB(f), empty(), empty()]);
    expect(relinkOrder(steady, W)).toEqual(Array.from({ length: T }, () => [0, 1, 2, 3]));
    // the swap gains an IoU of 1 for each of the two tracks: a margin of 2 keeps the query order
    const order = relinkOrder(swappingMasks(), W, { margin: 2 });
    expect(order).toEqual(Array.from({ length: T }, () => [0, 1, 2, 3]));
    expect(relinkOrder(swappingMasks(), W, { margin: 1.9 })[5]).toEqual([1, 0, 2, 3]);
  });

  test("masks that are not whole rows are an error", () => {
    expect(() => relinkOrder([[new Float32Array(10)]], W)).toThrow(/not whole rows of 24/);
  });
});

describe("relinkSlots", () => {
  test("reorders scores, boxes, masks and records of every frame alike", () => {
    const masks = swappingMasks();
    const scores = swappingLogits().map((row) => Float32Array.from(row));
    const boxes = scores.map((row) => Float32Array.from({ length: Q * 4 }, (_, i) => row[i >> 2]));
    const records = scores.map((row) => Array.from(row, (v) => [{ v }]));
    const frames = relinkSlots({ scores, boxes, masks, records }, W);
    for (let f = 0; f < T; f++) {
      expect(frames.masks[f][0]).toEqual(objectA(f));
      expect(frames.masks[f][1]).toEqual(objectB(f));
      expect(Array.from(frames.scores[f])).toEqual([f < 3 ? 3 : 2, 1, -4, -4]);
      expect(Array.from(frames.boxes[f].subarray(0, 8))).toEqual([
        ...new Array(4).fill(f < 3 ? 3 : 2),
        ...new Array(4).fill(1),
      ]);
      expect(frames.records![f].map((r) => (r[0] as { v: number }).v)).toEqual(
        Array.from(frames.scores[f]),
      );
    }
  });
});

describe("relinkChoice", () => {
  test("off, defaults, settings, and one-line errors", () => {
    expect(relinkChoice(undefined)).toBeNull();
    expect(relinkChoice(false)).toBeNull();
    expect(relinkChoice(null)).toBeNull();
    expect(relinkChoice(true)).toEqual(DEFAULT_RELINK);
    expect(relinkChoice({ margin: 0.5 })).toEqual({ margin: 0.5 });
    expect(() => relinkChoice({ gap: 1 }, "cfg.relinkSlots")).toThrow(
      'cfg.relinkSlots: unknown setting "gap" (known: margin)',
    );
    expect(() => relinkChoice({ margin: -1 })).toThrow(/margin: expected a number >= 0, got -1/);
    expect(() => relinkChoice("yes")).toThrow(/expected true, false or an object/);
  });

  test("a config's inference.relinkSlots is read and checked", () => {
    const base = { datasets: [{ type: "ref-shapes", root: "data/x" }] };
    const on = parseTrainConfig({ ...base, inference: { relinkSlots: true } }, "", "c.json");
    expect(on.inference.relinkSlots).toEqual(DEFAULT_RELINK);
    const off = parseTrainConfig(base, "", "c.json");
    expect(off.inference.relinkSlots).toBeNull();
    expect(() =>
      parseTrainConfig({ ...base, inference: { relinkSlots: { margin: "x" } } }, "", "c.json")
    ).toThrow(/inference.relinkSlots.margin: expected a number >= 0/);
  });
});

/** A stand-in for DMFormer that outputs the swapping slots above, whatever the frames. */
function swappingModel() {
  const backend = getBackend("cpu");
  const masks = swappingMasks(), logits = swappingLogits();
  return standInModel(Q, (video) => {
    const t = video.frames.shape[1];
    return Promise.resolve({
      pred_logits: tensor(Float32Array.from(logits.slice(0, t).flat()), [1, t, Q, 1], { backend }),
      pred_boxes: tensor(new Float32Array(t * Q * 4).fill(0.5), [1, t, Q, 4], { backend }),
      pred_masks: tensor(
        Float32Array.from(masks.slice(0, t).flatMap((perSlot) => perSlot.flatMap((m) => [...m]))),
        [1, t, Q, H, W],
        { backend },
      ),
      subjectChoice: { spans: [[1, 1]] },
    });
  });
}

describe("segmentClip relinkSlots", () => {
  const frames: RgbImage[] = Array.from({ length: T }, () => ({
    width: W,
    height: H,
    data: new Uint8Array(H * W * 3),
  }));
  const inside = (m: Float32Array) => Uint8Array.from(m, (v) => (v > 0 ? 1 : 0));

  test("the chosen slot follows the object through the hand-over; off, the query's index does", async () => {
    const tokenizer = await BertTokenizer.load();
    const common = { tokenizer, shortSide: null, allQueries: true };
    const plain = await segmentClip(swappingModel(), frames, "the square", common);
    // slot 0 holds A (logit 3) then B (logit 1); slot 1 B then A (logit 2): slot 0 wins
    expect(plain.query).toBe(0);
    expect(plain.masks).toEqual(
      [0, 1, 2, 3, 4, 5].map((f) => inside(f < 3 ? objectA(f) : objectB(f))),
    );
    const relinked = await segmentClip(swappingModel(), frames, "the square", {
      ...common,
      relinkSlots: true,
    });
    expect(relinked.query).toBe(0);
    expect(relinked.masks).toEqual([0, 1, 2, 3, 4, 5].map((f) => inside(objectA(f))));
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    expect(relinked.meanScore).toBeCloseTo((3 * sig(3) + 3 * sig(2)) / 6, 6);
    expect(relinked.queryMeanScores[1]).toBeCloseTo(sig(1), 6);
    // the other slots' masks follow their tracks too
    expect(relinked.queryMasks![1]).toEqual([0, 1, 2, 3, 4, 5].map((f) => inside(objectB(f))));
  });
});
