/**
 * The class-alignment term (a recipe option, off by default): the fused memory pooled under each
 * query's mask, scored against the sentence, added to every decoder layer's class logits.
 */
import { afterAll, describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { tensor, zeros } from "../src/ops/creation.ts";
import { sum } from "../src/ops/reduce.ts";
import { MaskPooledAlignment } from "../src/models/dmformer/class_align.ts";
import {
  expectLogitTermOnly,
  expectOptionKeysAppended,
  makeOptionRunner,
} from "./helpers/option_heads.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

/** Identity projections without bias: the score is <pooled, tgt> / sqrt(d). */
function identityAlignment(d: number): MaskPooledAlignment {
  const m = new MaskPooledAlignment(d);
  const eye = new Float32Array(d * d);
  for (let i = 0; i < d; i++) eye[i * d + i] = 1;
  for (const lin of [m.visual, m.text]) {
    lin.weight = tensor(eye, [d, d]).requireGrad();
    lin.bias = zeros([d]);
  }
  return m;
}

describe("MaskPooledAlignment", () => {
  // 2x2 token grid, masks at 4x4 (stride 2 relative to the tokens), d = 2, one frame
  const tokens = [1, 0, 0, 2, 3, 0, 5, 5]; // cells (0,0) (0,1) (1,0) (1,1)
  const tgt = [1, 1, 2, 0]; // query 0 text, query 1 text

  test("scores the tokens averaged under each query's own mask against its text", async () => {
    const m = identityAlignment(2);
    const masks = new Float32Array(2 * 16).fill(-5);
    // query 0 covers the top-left 2x2 block (cell (0,0)); query 1 the whole right half
    for (const [y, x] of [[0, 0], [0, 1], [1, 0], [1, 1]]) masks[y * 4 + x] = 3;
    for (let y = 0; y < 4; y++) for (const x of [2, 3]) masks[16 + y * 4 + x] = 1;
    const out = m.forward(
      tensor(tgt, [1, 2, 2]),
      tensor(masks, [1, 1, 2, 4, 4]),
      tensor(tokens, [1, 4, 2]),
      [2, 2],
    );
    expect(out.shape).toEqual([1, 2, 1]);
    const s = Math.SQRT1_2;
    // query 0: pooled (1, 0) . (1, 1); query 1: pooled ((0,2) + (5,5)) / 2 = (2.5, 3.5) . (2, 0)
    const got = Array.from(await out.data());
    expect(got[0]).toBeCloseTo(1 * s, 5);
    expect(got[1]).toBeCloseTo(5 * s, 5);
  });

  test("sends gradients to the tokens and the text, never to the masks", async () => {
    const m = identityAlignment(2);
    const masks = tensor(new Float32Array(16).fill(1), [1, 1, 1, 4, 4]).requireGrad();
    const toks = tensor(tokens, [1, 4, 2]).requireGrad();
    const text = tensor([1, 3], [1, 1, 2]).requireGrad();
    sum(m.forward(text, masks, toks, [2, 2])).backward();
    const s = Math.SQRT1_2;
    // every cell weighs 1/4: d score / d token = text / 4 / sqrt(2); d / d text = mean token
    const gTok = Array.from(await toks.grad!.data());
    gTok.forEach((v, i) => expect(v / s).toBeCloseTo(i % 2 ? 0.75 : 0.25, 5));
    const gText = Array.from(await text.grad!.data());
    expect(gText[0]).toBeCloseTo(2.25 * s, 5);
    expect(gText[1]).toBeCloseTo(1.75 * s, 5);
    expect(masks.grad).toBeFalsy();
  });

  test("an empty mask pools nothing: the term is the text projection's bias only", async () => {
    const m = identityAlignment(2);
    const out = m.forward(
      tensor(tgt.slice(0, 2), [1, 1, 2]),
      tensor(new Float32Array(16).fill(-1), [1, 1, 1, 4, 4]),
      tensor(tokens, [1, 4, 2]),
      [2, 2],
    );
    expect(Array.from(await out.data())).toEqual([0]);
  });
});

describe("DMFormer with classAlignment", () => {
  test("adds class_align.* after every reference key and leaves the rest unchanged", () => {
    expectOptionKeysAppended("classAlignment", [
      "class_align.visual.weight",
      "class_align.visual.bias",
      "class_align.text.weight",
      "class_align.text.bias",
    ]);
  });

  test("adds the term to every decoder layer's logits and nothing else", async () => {
    const root = await Deno.makeTempDir({ prefix: "dmf-align-" });
    dirs.push(root);
    const run = await makeOptionRunner(root);
    const plain = await run("classAlignment", false);
    const silent = await run("classAlignment", true, (model) => {
      // W_t = 0, b_t = 0: the text projection is zero, so is the term
      model.class_align!.text.weight = zeros(model.class_align!.text.weight.shape);
      model.class_align!.text.bias = zeros([model.class_align!.dim]);
    });
    expectLogitTermOnly(plain, silent, await run("classAlignment", true));
  });
});
