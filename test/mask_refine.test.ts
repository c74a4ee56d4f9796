/**
 * The image-guided mask refinement (a recipe option, off by default): three 3x3 convs over each
 * query's full-resolution logits and the frame's pixels, added to the logits; and the stride-1
 * mask targets it trains against.
 */
import { afterAll, describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import { MASK_REFINE_CHANNELS, MaskRefine } from "../src/models/dmformer/mask_refine.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { resolveConfig } from "../src/models/dmformer/config.ts";
import { type ClipTarget, subsampleTargetMasks } from "../src/models/dmformer/criterion.ts";
import { TEST_MODEL_SPEC } from "../src/pipeline/fixtures.ts";
import { parseTrainConfig } from "../src/pipeline/train_config.ts";
import { makeCriterion } from "../src/pipeline/train.ts";
import { gradcheck } from "./helpers/gradcheck.ts";
import { uniform } from "./helpers/numeric.ts";
import { expectOptionKeysAppended, makeOptionRunner } from "./helpers/option_heads.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

const REFINE_SPEC = { ...TEST_MODEL_SPEC, maskOutStride: 1, maskRefine: true };

describe("MaskRefine", () => {
  test("starts as the identity on the logits", async () => {
    const masks = T.tensor(uniform(2 * 3 * 5 * 6, 1).map((v) => 8 * v), [1, 2, 3, 5, 6]);
    const frames = T.tensor(uniform(2 * 3 * 5 * 6, 2), [1, 2, 3, 5, 6]);
    const out = new MaskRefine(4).forward(masks, frames);
    expect(out.shape).toEqual([1, 2, 3, 5, 6]);
    expect(Array.from(await out.data())).toEqual(Array.from(await masks.data()));
  });

  test("adds conv3(relu(conv2(relu(conv1([tanh(logit / 4), rgb]))))) per query", async () => {
    // one clip, one frame, two queries on a 2x2 grid; 1x1 convs in the middle of 3x3 kernels
    const m = new MaskRefine(1);
    const centre = (weights: number[]) => {
      const k = new Array(weights.length * 9).fill(0);
      weights.forEach((w, i) => (k[i * 9 + 4] = w));
      return k;
    };
    m.conv1.weight = T.tensor(centre([2, 1, 0, 0]), [1, 4, 3, 3]);
    m.conv1.bias = T.tensor([-0.5], [1]);
    m.conv2.weight = T.tensor(centre([3]), [1, 1, 3, 3]);
    m.conv2.bias = T.tensor([0], [1]);
    m.conv3.weight = T.tensor(centre([1]), [1, 1, 3, 3]);
    m.conv3.bias = T.tensor([0.25], [1]);
    const logits = [4, -4, 0, 8, -8, 2, 1, 0];
    const red = [0.5, 0.1, -1, 0];
    const frames = T.tensor([...red, 0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 3, 2, 2]);
    const got = Array.from(await m.forward(T.tensor(logits, [1, 1, 2, 2, 2]), frames).data());
    const expected = logits.map((l, i) => {
      const hidden = Math.max(2 * Math.tanh(l / 4) + red[i % 4] - 0.5, 0);
      return l + 3 * hidden + 0.25;
    });
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
  });

  test("gradients of the logits, the frames and every conv match finite differences", () => {
    const f64 = (n: number, seed: number, shape: number[], scale = 1) =>
      T.tensor(uniform(n, seed).map((v) => scale * v), shape, { dtype: "f64" });
    const c = 2;
    const inputs = [
      f64(2 * 2 * 4 * 3, 1, [1, 2, 2, 4, 3], 6), // masks
      f64(2 * 3 * 4 * 3, 2, [1, 2, 3, 4, 3]), // frames
      f64(c * 4 * 9, 3, [c, 4, 3, 3]),
      f64(c, 4, [c]),
      f64(c * c * 9, 5, [c, c, 3, 3]),
      f64(c, 6, [c]),
      f64(c * 9, 7, [1, c, 3, 3]),
      f64(1, 8, [1]),
    ];
    const report = gradcheck(
      (masks, frames, w1, b1, w2, b2, w3, b3) => {
        const m = new MaskRefine(c);
        [m.conv1.weight, m.conv1.bias, m.conv2.weight, m.conv2.bias] = [w1, b1, w2, b2];
        [m.conv3.weight, m.conv3.bias] = [w3, b3];
        return m.forward(masks, frames);
      },
      inputs,
      { rtol: 1e-5, atol: 1e-6 },
    );
    expect(report.checked).toBe(inputs.reduce((s, x) => s + x.size, 0));
    expect(report.ops.has("conv2d")).toBe(true);
  });

  test("pads frames by less than a stride-4 cell; other shapes are a one-line error", async () => {
    const m = new MaskRefine(2);
    m.conv3.bias = T.tensor([1], [1]);
    const masks = T.zeros([1, 1, 1, 8, 8]);
    const out = m.forward(masks, T.zeros([1, 1, 3, 6, 7]));
    expect(out.shape).toEqual([1, 1, 1, 8, 8]);
    expect(Array.from(await out.data()).every((v) => v === 1)).toBe(true);
    expect(() => m.forward(masks, T.zeros([1, 1, 3, 4, 8]))).toThrow(
      /^mask refine: masks \[1,1,1,8,8\] need frames \[1, 1, 3, 8, 8\], got \[1,1,3,4,8\] \(the refinement needs maskOutStride 1\)$/,
    );
    expect(() => m.forward(masks, T.zeros([1, 2, 3, 8, 8]))).toThrow(/need frames/);
  });
});

describe("DMFormer with maskRefine", () => {
  test("adds mask_refine.* after every reference key and needs maskOutStride 1", () => {
    expectOptionKeysAppended(
      "maskRefine",
      ["conv1", "conv2", "conv3"].flatMap((
        c,
      ) => [`mask_refine.${c}.weight`, `mask_refine.${c}.bias`]),
      { maskOutStride: 1 },
    );
    expect(new MaskRefine().conv1.weight.shape).toEqual([MASK_REFINE_CHANNELS, 4, 3, 3]);
    expect(() => new DMFormer(resolveConfig({ ...TEST_MODEL_SPEC, maskRefine: true }))).toThrow(
      /^model config: "maskRefine" refines logits on the input grid and needs "maskOutStride": 1 \(got 4\)$/,
    );
  });

  test("starts as the model without it; a trained one moves the masks, never the logits", async () => {
    const root = await Deno.makeTempDir({ prefix: "dmf-refine-" });
    dirs.push(root);
    const run = await makeOptionRunner(root, { maskOutStride: 1 });
    const plain = await run("maskRefine", false);
    const zero = await run("maskRefine", true);
    const trained = await run("maskRefine", true, (model) => {
      model.mask_refine!.conv3.bias = T.tensor([0.5], [1]);
    });
    // masks on the batch's input grid (48x48 frames padded to 64x64), not the stride-4 one
    expect(plain.masksShape.slice(-2)).toEqual([64, 64]);
    expect(Array.from(zero.masks)).toEqual(Array.from(plain.masks));
    [zero, trained].forEach((r) =>
      r.logits.forEach((l, k) => expect(Array.from(l)).toEqual(Array.from(plain.logits[k])))
    );
    const moved = trained.masks.filter((v, i) => Math.abs(v - plain.masks[i]) > 1e-3).length;
    expect(moved).toBeGreaterThan(trained.masks.length / 2);
  });
});

describe("stride-1 mask targets", () => {
  const clip = (size: [number, number], masks: number[]): ClipTarget => ({
    size,
    masks: Uint8Array.from(masks),
    boxes: new Float32Array(4),
    valid: Uint8Array.from([1]),
    labels: Int32Array.from([0]),
  });

  test("are the padded masks themselves; stride 4 samples each cell's pixel (2, 2)", () => {
    const m = Array.from({ length: 5 * 6 }, (_, i) => (i % 7 === 0 ? 1 : 0));
    const one = subsampleTargetMasks([clip([5, 6], m)], 1, 1);
    expect([one.h, one.w]).toEqual([32, 32]);
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        expect(one.masks[0][y * 32 + x]).toBe(y < 5 && x < 6 ? m[y * 6 + x] : 0);
      }
    }
    const four = subsampleTargetMasks([clip([5, 6], m)], 1, 4);
    expect([four.h, four.w]).toEqual([8, 8]);
    expect(four.masks[0][0]).toBe(m[2 * 6 + 2]);
  });

  test("the training criterion follows the model's maskOutStride", () => {
    const config = (model: Record<string, unknown>) =>
      parseTrainConfig({ model, datasets: [{ type: "ref-shapes", root: "x" }] }, "", "c.json");
    expect(makeCriterion(config(REFINE_SPEC)).maskOutStride).toBe(1);
    expect(makeCriterion(config(TEST_MODEL_SPEC)).maskOutStride).toBe(4);
  });
});
