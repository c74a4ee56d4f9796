/**
 * The query-choice loss (a recipe option, off by default): criterion.ts `queryChoiceLoss`, the
 * criterion's `loss_choice` terms and the training config's `choiceLossWeight`.
 */
import { describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { tensor } from "../src/ops/creation.ts";
import {
  CHOICE_LOSS,
  type ClipTarget,
  DEFAULT_WEIGHTS,
  queryChoiceLoss,
  SetCriterion,
} from "../src/models/dmformer/criterion.ts";
import { parseTrainConfig } from "../src/pipeline/train_config.ts";
import { makeCriterion } from "../src/pipeline/train.ts";

function target(valid: number[], labels = valid.map(() => 0)): ClipTarget {
  const t = valid.length;
  return {
    boxes: new Float32Array(t * 4).fill(0.5),
    masks: new Uint8Array(t * 4 * 4),
    size: [4, 4],
    valid,
    labels,
  };
}

/** -log softmax(scores)[slot], in float64. */
function ce(scores: number[], slot: number): number {
  const m = Math.max(...scores);
  const lse = m + Math.log(scores.reduce((s, v) => s + Math.exp(v - m), 0));
  return lse - scores[slot];
}

describe("queryChoiceLoss", () => {
  test("cross-entropy of the clip-mean logits over the valid frames, mean over clips", async () => {
    // b 2, t 3, q 3, k 1; clip 1's second frame is not valid
    const logits = [
      [[1, 0, -1], [3, 1, 0], [2, -2, 0.5]],
      [[0, 2, 1], [9, 9, 9], [1, 1, -1]],
    ];
    const loss = queryChoiceLoss(
      tensor(logits.flat(2), [2, 3, 3, 1]),
      [target([1, 1, 1]), target([1, 0, 1])],
      [0, 1],
    );
    const mean0 = [0, 1, 2].map((j) => (logits[0][0][j] + logits[0][1][j] + logits[0][2][j]) / 3);
    const mean1 = [0, 1, 2].map((j) => (logits[1][0][j] + logits[1][2][j]) / 2);
    const expected = (ce(mean0, 0) + ce(mean1, 1)) / 2;
    expect((await loss.data())[0]).toBeCloseTo(expected, 5);
  });

  test("several classes: each valid frame's target class; clips without valid frames drop out", async () => {
    // b 2, t 2, q 2, k 2
    const logits = [
      [[[0.5, 2], [1, -1]], [[0, 1], [3, 0]]],
      [[[5, 5], [5, 5]], [[5, 5], [5, 5]]],
    ];
    const loss = queryChoiceLoss(
      tensor(logits.flat(3), [2, 2, 2, 2]),
      [target([1, 1], [1, 0]), target([0, 0])],
      [1, 0],
      2,
    );
    const scores = [0, 1].map((j) => (logits[0][0][j][1] + logits[0][1][j][0]) / 2);
    expect((await loss.data())[0]).toBeCloseTo(ce(scores, 1), 5);
    const none = queryChoiceLoss(
      tensor(logits.flat(3), [2, 2, 2, 2]),
      [
        target([0, 0]),
        target([0, 0]),
      ],
      [0, 0],
      2,
    );
    expect((await none.data())[0]).toBe(0);
  });

  test("its gradient raises the matched query's logits and lowers the others'", async () => {
    const logits = tensor([0, 1, 0, 1], [1, 2, 2, 1]).requireGrad();
    queryChoiceLoss(logits, [target([1, 1])], [0]).backward();
    const g = await logits.grad!.data();
    // softmax([0, 1]) = [0.269, 0.731]; d/dscore = p - onehot, each frame weighs 1/2
    const p0 = 1 / (1 + Math.E);
    expect(Array.from(g).map((v) => Number(v.toFixed(5)))).toEqual(
      [(p0 - 1) / 2, (1 - p0) / 2, (p0 - 1) / 2, (1 - p0) / 2].map((v) => Number(v.toFixed(5))),
    );
  });

  test("bad batch sizes are named", () => {
    expect(() => queryChoiceLoss(tensor([0, 0], [1, 1, 2, 1]), [target([1])], [0, 1])).toThrow(
      /choice loss over 1 clips got 1 targets and 2 slots/,
    );
  });
});

describe("loss_choice in the criterion and the training config", () => {
  const base = { datasets: [{ type: "ref-shapes", root: "data/x" }] };

  test("absent unless weighted; then one term per decoder layer", async () => {
    const q = 3, t = 2;
    const layer = () => ({
      pred_logits: tensor(Array.from({ length: t * q }, (_, i) => (i % q) - 1), [1, t, q, 1]),
      pred_boxes: tensor(new Array(t * q * 4).fill(0.5), [1, t, q, 4]),
      pred_masks: tensor(new Array(t * q * 64).fill(0), [1, t, q, 8, 8]),
    });
    const out = { ...layer(), aux_outputs: [layer()] };
    const clip = target([1, 1]);
    const plain = await new SetCriterion({ maskOutStride: 4 }).forward(out, [clip]);
    expect([...plain.losses.keys()].filter((k) => k.startsWith(CHOICE_LOSS))).toEqual([]);
    const weighted = await new SetCriterion({
      maskOutStride: 4,
      weights: { ...DEFAULT_WEIGHTS, [CHOICE_LOSS]: 3 },
    }).forward(out, [clip]);
    expect([...weighted.losses.keys()].filter((k) => k.startsWith(CHOICE_LOSS))).toEqual([
      CHOICE_LOSS,
      `${CHOICE_LOSS}_0`,
    ]);
    const slot = weighted.matches[0][0];
    const choice = (await weighted.losses.get(CHOICE_LOSS)!.data())[0];
    expect(choice).toBeCloseTo(ce([-1, 0, 1], slot), 5);
    const diff = (await weighted.total.data())[0] - (await plain.total.data())[0];
    const aux = (await weighted.losses.get(`${CHOICE_LOSS}_0`)!.data())[0];
    expect(diff).toBeCloseTo(3 * (choice + aux), 4);
  });

  test("choiceLossWeight: default 0, adds the weight to the criterion, one-line errors", () => {
    expect(parseTrainConfig(base, "", "c.json").choiceLossWeight).toBe(0);
    expect(makeCriterion(parseTrainConfig(base, "", "c.json")).weights[CHOICE_LOSS])
      .toBeUndefined();
    const on = parseTrainConfig({ ...base, choiceLossWeight: 2 }, "", "c.json");
    expect(makeCriterion(on).weights).toEqual({ ...DEFAULT_WEIGHTS, [CHOICE_LOSS]: 2 });
    const err = (json: unknown) => () => parseTrainConfig(json, "", "c.json");
    expect(err({ ...base, choiceLossWeight: -1 })).toThrow(
      /c.json: choiceLossWeight: must be >= 0, got -1/,
    );
    expect(err({ ...base, lossWeights: { loss_ce: 2, [CHOICE_LOSS]: 1 } })).toThrow(
      /c.json: lossWeights.loss_choice: set the query-choice weight with "choiceLossWeight" instead/,
    );
  });
});
