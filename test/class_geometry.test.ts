/**
 * The mask-geometry class term (a recipe option, off by default): each query's mask size, place
 * and motion over the clip, weighed by the sentence, added to every decoder layer's class logits.
 */
import { afterAll, describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { tensor } from "../src/ops/creation.ts";
import { sum } from "../src/ops/reduce.ts";
import { TEST_MODEL_SPEC } from "../src/pipeline/fixtures.ts";
import { parseTrainConfig } from "../src/pipeline/train_config.ts";
import { parameterGroups } from "../src/pipeline/train.ts";
import {
  MASK_GEOMETRY_FEATURES,
  maskGeometry,
  MaskGeometryScore,
} from "../src/models/dmformer/class_geometry.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import {
  expectLogitTermOnly,
  expectOptionKeysAppended,
  makeOptionRunner,
} from "./helpers/option_heads.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

const EMPTY = 1e-3;
/** The centroid as the module computes it: sum of cell centres over (area + 1e-3). */
const centroid = (centres: number[]) =>
  (centres.reduce((s, c) => s + c, 0) + 0.5 * EMPTY) / (centres.length + EMPTY);

/**
 * One clip of 2 frames, 2 queries, masks on a 2x64 grid over a 4x128 padded input (stride 2) whose
 * image is 4x64: query 0 is cell (0, 10) in frame 0 and cells (0, 10), (1, 11) in frame 1; query 1
 * is empty in frame 0 and cell (1, 3) in frame 1.
 */
function clipMasks(): number[] {
  const m = new Array(2 * 2 * 2 * 64).fill(-2);
  const at = (f: number, k: number, y: number, x: number) => ((f * 2 + k) * 2 + y) * 64 + x;
  m[at(0, 0, 0, 10)] = 1;
  m[at(1, 0, 0, 10)] = 0.5;
  m[at(1, 0, 1, 11)] = 3;
  m[at(1, 1, 1, 3)] = 1;
  return m;
}

describe("maskGeometry", () => {
  test("log area, centroid and clip motion in the unpadded image's coordinates", async () => {
    const g = maskGeometry(tensor(clipMasks(), [1, 2, 2, 2, 64]), [[4, 64]], [4, 128]);
    expect(g.shape).toEqual([1, 2, 2, MASK_GEOMETRY_FEATURES]);
    const got = Array.from(await g.data());
    const cellX = (x: number) => ((x + 0.5) * 2) / 64;
    const cellY = (y: number) => ((y + 0.5) * 2) / 4;
    const cells = 2 * 32; // the image covers half the grid's width
    const size = (area: number) => Math.log(area / cells + EMPTY) + 4;
    const place = (c: number) => (c - 0.5) * 2;
    const x0 = centroid([cellX(10)]), x1 = centroid([cellX(10), cellX(11)]);
    const y0 = centroid([cellY(0)]), y1 = centroid([cellY(0), cellY(1)]);
    const motionX = Math.tanh((x1 - x0) / 0.02), motionY = Math.tanh((y1 - y0) / 0.02);
    const speed = Math.tanh((Math.abs(x1 - x0) + Math.abs(y1 - y0)) / 0.02);
    const expected = [
      [size(1), place(x0), place(y0), motionX, motionY, speed], // frame 0, query 0
      [size(0), 0, 0, 0, 0, 0], // frame 0, query 1: empty, so no motion either
      [size(2), place(x1), place(y1), motionX, motionY, speed],
      [size(1), place(centroid([cellX(3)])), place(centroid([cellY(1)])), 0, 0, 0],
    ].flat();
    expect(motionX).toBeGreaterThan(0.5);
    expect(motionX).toBeLessThan(0.9);
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
  });

  test("one frame has no motion", async () => {
    const frame0 = clipMasks().slice(0, 2 * 2 * 64);
    const g = Array.from(
      await maskGeometry(tensor(frame0, [1, 1, 2, 2, 64]), [[4, 64]], [4, 128]).data(),
    );
    expect([g[3], g[4], g[5], g[9], g[10], g[11]]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test("needs one image size per clip", () => {
    expect(() => maskGeometry(tensor(clipMasks(), [1, 2, 2, 2, 64]), [], [4, 128])).toThrow(
      /^mask geometry: 0 image sizes for a batch of 1 clips$/,
    );
  });
});

describe("MaskGeometryScore", () => {
  // three word features of width 2; the third is padding
  const words = [1, 0, 2, -1, 5, 5];
  const wordMask = [1, 1, 0];
  const rows = [0, 1, 2, 3]; // (frame, query) pairs

  test("starts at zero, then scores the geometry against the words' summed weights", async () => {
    const m = new MaskGeometryScore(2);
    const masks = tensor(clipMasks(), [1, 2, 2, 2, 64]);
    const w = tensor(words, [1, 3, 2]), mask = tensor(wordMask, [1, 3], { dtype: "i32" });
    const zero = Array.from(await m.forward(w, mask, masks, [[4, 64]], [4, 128]).data());
    expect(zero).toEqual([0, 0, 0, 0]);
    // motion x weighs sum of the real words' first feature (1 + 2 = 3); log area 0.5, speed -1
    m.weight = tensor([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0], [6, 2]).requireGrad();
    m.bias = tensor([0.5, 0, 0, 0, 0, -1], [6]).requireGrad();
    const out = m.forward(w, mask, masks, [[4, 64]], [4, 128]);
    expect(out.shape).toEqual([2, 2, 1]);
    const g = Array.from(await maskGeometry(masks, [[4, 64]], [4, 128]).data());
    const got = Array.from(await out.data());
    for (const r of rows) {
      expect(got[r]).toBeCloseTo(0.5 * g[r * 6] + 3 * g[r * 6 + 3] - g[r * 6 + 5], 5);
    }
  });

  test("sends gradients to W, b and the real words, never to the masks", async () => {
    const m = new MaskGeometryScore(2);
    m.weight = tensor([1, 2, 0, 0, 0, 0, -1, 0, 0, 0, 0, 3], [6, 2]).requireGrad();
    const masks = tensor(clipMasks(), [1, 2, 2, 2, 64]).requireGrad();
    const w = tensor(words, [1, 3, 2]).requireGrad();
    const mask = tensor(wordMask, [1, 3], { dtype: "i32" });
    sum(m.forward(w, mask, masks, [[4, 64]], [4, 128])).backward();
    const g = Array.from(await maskGeometry(masks, [[4, 64]], [4, 128]).data());
    const total = (j: number) => rows.reduce((s, r) => s + g[r * 6 + j], 0);
    const summedWords = [1 + 2, 0 - 1];
    const gb = Array.from(await m.bias.grad!.data());
    const gw = Array.from(await m.weight.grad!.data());
    for (let j = 0; j < 6; j++) {
      expect(gb[j]).toBeCloseTo(total(j), 5);
      for (let k = 0; k < 2; k++) expect(gw[j * 2 + k]).toBeCloseTo(total(j) * summedWords[k], 5);
    }
    // d/d word_l = mask_l * sum_j total(j) W_j
    const wv = Array.from(await m.weight.data());
    const perWord = [0, 1].map((k) =>
      [0, 1, 2, 3, 4, 5].reduce((s, j) => s + total(j) * wv[j * 2 + k], 0)
    );
    const gWords = Array.from(await w.grad!.data());
    [...perWord, ...perWord, 0, 0].forEach((v, i) => expect(gWords[i]).toBeCloseTo(v, 5));
    expect(masks.grad).toBeFalsy();
  });
});

describe("DMFormer with classGeometry", () => {
  test("adds class_geometry.* after every reference key", () => {
    expectOptionKeysAppended("classGeometry", ["class_geometry.weight", "class_geometry.bias"]);
  });

  test("starts as the model without it; a trained term moves every layer's logits only", async () => {
    const root = await Deno.makeTempDir({ prefix: "dmf-geometry-" });
    dirs.push(root);
    const run = await makeOptionRunner(root);
    const trained = await run("classGeometry", true, (model) => {
      model.class_geometry!.bias = tensor([1, 0.5, -0.5, 2, 0, 1], [6]);
    });
    expectLogitTermOnly(
      await run("classGeometry", false),
      await run("classGeometry", true),
      trained,
    );
  });
});

describe("classGeometry in training configs", () => {
  const base = { datasets: [{ type: "ref-shapes", root: "x" }] };

  test("its parameters form a group at rest lr x classGeometryMult", () => {
    const config = parseTrainConfig(
      {
        ...base,
        model: { ...TEST_MODEL_SPEC, classGeometry: true },
        schedule: { lr: { rest: 2e-4, classGeometryMult: 10 } },
      },
      "",
      "c.json",
    );
    const groups = parameterGroups(new DMFormer(config.model), config);
    expect(groups.map((g) => g.name)).toEqual([
      "backbone",
      "text_encoder",
      "linear_proj",
      "rest",
      "class_geometry",
    ]);
    expect(groups[4].names).toEqual(["class_geometry.weight", "class_geometry.bias"]);
    expect(groups[4].lr).toBeCloseTo(2e-3, 12);
    expect(groups[3].lr).toBe(2e-4);
    expect(groups[3].names!.some((n) => n.startsWith("class_geometry"))).toBe(false);
    const plain = parseTrainConfig({ ...base, model: TEST_MODEL_SPEC }, "", "c.json");
    expect(plain.schedule.lr.classGeometryMult).toBe(1);
    expect(parameterGroups(new DMFormer(plain.model), plain).length).toBe(4);
  });

  test("a multiplier without the term is a one-line error", () => {
    expect(() =>
      parseTrainConfig({ ...base, schedule: { lr: { classGeometryMult: 10 } } }, "", "c.json")
    ).toThrow(
      /^c.json: schedule.lr.classGeometryMult: 10 needs the term it scales: set "classGeometry": true in "model"$/,
    );
    expect(() =>
      parseTrainConfig(
        {
          ...base,
          model: { base: "tiny", classGeometry: true },
          schedule: { lr: { classGeometryMult: -1 } },
        },
        "",
        "c.json",
      )
    ).toThrow(/c.json: schedule.lr.classGeometryMult: must be >= 0, got -1/);
  });
});
