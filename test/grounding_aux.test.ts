/**
 * The auxiliary grounding loss (a recipe option, off by default): the model's
 * `grounding_aux_head` on the stride-8 fused memory, the criterion's `loss_grounding_aux`, the
 * training config's `groundingAuxWeight`, and the JSONL log.
 */
import { afterAll, describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { getBackend } from "../src/backend/backend.ts";
import { tensor } from "../src/ops/creation.ts";
import { manualSeed } from "../src/tensor/random.ts";
import { makeTinySetup, TEST_MODEL_SPEC } from "../src/pipeline/fixtures.ts";
import { parseTrainConfig } from "../src/pipeline/train_config.ts";
import { makeCriterion, openTrainingData } from "../src/pipeline/train.ts";
import { prepareBatch } from "../src/pipeline/batch.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { resolveConfig } from "../src/models/dmformer/config.ts";
import {
  type ClipTarget,
  DEFAULT_WEIGHTS,
  GROUNDING_AUX_LOSS,
  groundingAuxLoss,
  SetCriterion,
  subsampleTargetMasks,
} from "../src/models/dmformer/criterion.ts";
import { BertTokenizer } from "../src/text/bert_tokenizer.ts";
import { loadSafetensors } from "../src/io/safetensors.ts";
import { main as trainMain } from "../tools/train.ts";

const cpu = getBackend("cpu");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

const HEAD = ["grounding_aux_head.weight", "grounding_aux_head.bias"];
const withHead = { ...TEST_MODEL_SPEC, groundingAuxHead: true };

async function setup(overrides: Record<string, unknown> = {}) {
  const root = await Deno.makeTempDir({ prefix: "dmf-aux-" });
  dirs.push(root);
  return await makeTinySetup(root, { videos: 1, frames: 2, overrides });
}

async function oneBatch(config: ReturnType<typeof parseTrainConfig>) {
  const data = await openTrainingData(config);
  return await prepareBatch([await data.get(0, 0)], await BertTokenizer.load(), cpu, {
    maxLength: 32,
  });
}

/** One clip of t frames at `size` with the given 0/1 masks (h*w per frame). */
function clipTarget(size: [number, number], masks: number[]): ClipTarget {
  const t = masks.length / (size[0] * size[1]);
  return {
    boxes: new Float32Array(t * 4).fill(0.5),
    masks: Uint8Array.from(masks),
    size,
    valid: new Array(t).fill(1),
    labels: new Array(t).fill(0),
  };
}

describe("model", () => {
  test("off by default: no head, no extra output, the same parameters and initial values", () => {
    const cfg = resolveConfig(TEST_MODEL_SPEC);
    expect(cfg.groundingAuxHead).toBe(false);
    expect(resolveConfig("swin-t").groundingAuxHead).toBe(false);
    manualSeed(5);
    const plain = new DMFormer(cfg);
    manualSeed(5);
    const aux = new DMFormer(resolveConfig(withHead));
    const plainKeys = [...plain.stateDict().keys()];
    expect(plainKeys.some((k) => k.includes("grounding"))).toBe(false);
    expect(plain.grounding_aux_head).toBeUndefined();
    // the head comes last, so every other key keeps its place and its random initial value
    expect([...aux.stateDict().keys()]).toEqual([...plainKeys, ...HEAD]);
    expect(aux.stateDict().get(HEAD[0])!.shape).toEqual([1, 32]);
    expect(aux.stateDict().get(HEAD[1])!.shape).toEqual([1]);
    const a = aux.stateDict();
    for (const [k, v] of plain.stateDict()) {
      expect(Array.from(a.get(k)!.dataSync()), k).toEqual(Array.from(v.dataSync()));
    }
  });

  test("on: [b, t, H/8, W/8] grounding logits; off: none", async () => {
    const s = await setup({ model: withHead });
    const config = parseTrainConfig(s.config, "", "test");
    const batch = await oneBatch(config);
    manualSeed(2);
    const model = new DMFormer(config.model);
    model.eval();
    const out = await model.forward(batch.video, batch.captions, batch.sizes);
    const [b, t, , H, W] = batch.video.frames.shape;
    expect(out.grounding_aux!.stride).toBe(8);
    expect(out.grounding_aux!.logits.shape).toEqual([b, t, H / 8, W / 8]);
    const values = await out.grounding_aux!.logits.data();
    expect(values.every(Number.isFinite)).toBe(true);

    const plain = new DMFormer(resolveConfig(TEST_MODEL_SPEC));
    plain.eval();
    const plainOut = await plain.forward(batch.video, batch.captions, batch.sizes);
    expect("grounding_aux" in plainOut).toBe(false);
  });
});

describe("criterion", () => {
  test("loss_grounding_aux is the mean BCE against the mask sampled at the stride-8 centres", async () => {
    // a 10x12 clip pads to 32x32: a 4x4 grid sampling (4 + 8i, 4 + 8j); only (4, 4) is inside
    const size: [number, number] = [10, 12];
    const frame0 = new Array(120).fill(0);
    frame0[4 * 12 + 4] = 1; // the object covers the sampled pixel (4, 4) in frame 0
    frame0[5 * 12 + 5] = 1; // and a pixel no cell centre samples
    const frame1 = new Array(120).fill(0); // absent in frame 1
    const target = clipTarget(size, [...frame0, ...frame1]);
    const logits = Array.from({ length: 32 }, (_, k) => (k % 5) - 2 + 0.25 * (k % 3));
    const aux = {
      logits: tensor(Float32Array.from(logits), [1, 2, 4, 4], { backend: cpu }),
      stride: 8,
    };
    const got = await groundingAuxLoss(aux, [target]).item();
    const bce = (x: number, y: number) =>
      -(y * Math.log(1 / (1 + Math.exp(-x))) +
        (1 - y) * Math.log(1 - 1 / (1 + Math.exp(-x))));
    const want = logits.reduce((s, x, k) => s + bce(x, k === 0 ? 1 : 0), 0) / 32;
    expect(got).toBeCloseTo(want, 6);
    // hand check of the first terms: x = -2 with target 1, x = -0.75 with target 0
    expect(bce(-2, 1)).toBeCloseTo(2.126928, 6);
    expect(bce(-0.75, 0)).toBeCloseTo(0.386871, 6);

    // through SetCriterion: reported always, added to the total with its weight
    const t = 2, q = 3;
    const preds = {
      pred_logits: tensor(new Float32Array(t * q).fill(-1), [1, t, q, 1], { backend: cpu }),
      pred_boxes: tensor(new Float32Array(t * q * 4).fill(0.4), [1, t, q, 4], { backend: cpu }),
      pred_masks: tensor(new Float32Array(t * q * 64).fill(-2), [1, t, q, 8, 8], { backend: cpu }),
      grounding_aux: aux,
    };
    const off = await new SetCriterion().forward(preds, [target]);
    const on = await new SetCriterion({ weights: { ...DEFAULT_WEIGHTS, [GROUNDING_AUX_LOSS]: 10 } })
      .forward(preds, [target]);
    expect(await off.losses.get(GROUNDING_AUX_LOSS)!.item()).toBeCloseTo(want, 6);
    expect((await on.total.item()) - (await off.total.item())).toBeCloseTo(10 * want, 4);
    const { grounding_aux: _, ...withoutAux } = preds;
    const plain = await new SetCriterion().forward(withoutAux, [target]);
    expect(plain.losses.has(GROUNDING_AUX_LOSS)).toBe(false);
    expect(await plain.total.item()).toBe(await off.total.item());
    await expect(
      new SetCriterion({ weights: { [GROUNDING_AUX_LOSS]: 10 } }).forward(withoutAux, [target]),
    ).rejects.toThrow(/loss_grounding_aux has weight 10 but the model has no grounding head/);
    expect(() => groundingAuxLoss({ logits: aux.logits, stride: 4 }, [target])).toThrow(
      /subsample to 8x8 at stride 4/,
    );
  });

  test("gradient reaches the head and the fusion layers that make the memory", async () => {
    const s = await setup({ model: withHead });
    const config = parseTrainConfig(s.config, "", "test");
    const batch = await oneBatch(config);
    manualSeed(2);
    const model = new DMFormer(config.model);
    model.eval(); // no dropout: the analytic check below is exact
    const out = await model.forward(batch.video, batch.captions, batch.sizes);
    const loss = groundingAuxLoss(out.grounding_aux!, batch.targets);
    loss.backward();
    // d mean(BCE) / d bias = mean(sigmoid(x) - target)
    const x = await out.grounding_aux!.logits.data();
    const [, t] = out.grounding_aux!.logits.shape;
    const { masks } = subsampleTargetMasks(batch.targets, t, 8);
    const want = Array.from(x).reduce((s, v, k) => s + 1 / (1 + Math.exp(-v)) - masks[0][k], 0) /
      x.length;
    const head = model.grounding_aux_head!;
    expect((await head.bias!.grad!.data())[0]).toBeCloseTo(want, 5);
    const norm = async (prefix: string) => {
      let s = 0;
      for (const [name, p] of model.namedParameters()) {
        if (!name.startsWith(prefix) || !p.grad) continue;
        for (const g of await p.grad.data()) s += g * g;
      }
      return Math.sqrt(s);
    };
    expect(await norm("grounding_aux_head.weight")).toBeGreaterThan(0);
    for (
      const prefix of [
        "visionlayer_list_context.1.",
        "visionlayer_list_subject.1.",
        "vlfuse_list_context.0.",
        "resizer_subject_v.",
        "backbone.0.",
      ]
    ) {
      const n = await norm(prefix);
      expect(Number.isFinite(n) && n > 0, prefix).toBe(true);
    }
    // the heads after the memory get nothing from this loss
    expect(await norm("class_embed.")).toBe(0);
  });
});

describe("training config and loop", () => {
  test("groundingAuxWeight: default 0, needs the head, one-line errors", () => {
    const base = { datasets: [{ type: "ref-shapes", root: "x" }] };
    const plain = parseTrainConfig(base, "", "c.json");
    expect(plain.groundingAuxWeight).toBe(0);
    expect(plain.model.groundingAuxHead).toBe(false);
    expect(makeCriterion(plain).weights).toBe(DEFAULT_WEIGHTS);
    const on = parseTrainConfig(
      { ...base, model: { base: "tiny", groundingAuxHead: true }, groundingAuxWeight: 10 },
      "",
      "c.json",
    );
    expect(on.groundingAuxWeight).toBe(10);
    expect(makeCriterion(on).weights).toEqual({ ...DEFAULT_WEIGHTS, loss_grounding_aux: 10 });
    expect(
      makeCriterion({ ...on, lossWeights: { loss_ce: 1 } }).weights,
    ).toEqual({ loss_ce: 1, loss_grounding_aux: 10 });
    const err = (json: Record<string, unknown>) => () => parseTrainConfig(json, "", "c.json");
    expect(err({ ...base, groundingAuxWeight: 10 })).toThrow(
      /^c.json: groundingAuxWeight: 10 needs the head it trains: set "groundingAuxHead": true in "model"$/,
    );
    expect(err({ ...base, groundingAuxWeight: "10" })).toThrow(
      /c.json: groundingAuxWeight: expected a number, got 10/,
    );
    expect(err({ ...base, groundingAuxWeight: -1 })).toThrow(
      /c.json: groundingAuxWeight: must be >= 0, got -1/,
    );
    expect(err({ ...base, model: { base: "tiny", groundingAuxHead: "yes" } })).toThrow(
      /c.json: model: config.groundingAuxHead: expected boolean, got string/,
    );
    expect(err({ ...base, lossWeights: { loss_grounding_aux: 10 } })).toThrow(
      /lossWeights.loss_grounding_aux: set the auxiliary grounding weight with "groundingAuxWeight"/,
    );
  });

  test("deno task train logs loss_grounding_aux and checkpoints the head", async () => {
    const s = await setup({
      model: withHead,
      groundingAuxWeight: 10,
      schedule: { epochs: 1, maxSteps: 2 },
    });
    await trainMain(["--config", s.configPath, "--quiet"]);
    const log = (await Deno.readTextFile(`${s.runDir}/log.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    expect(log.map((e) => e.step)).toEqual([1, 2]);
    for (const e of log) {
      const aux = e.losses.loss_grounding_aux;
      expect(aux > 0 && Number.isFinite(aux)).toBe(true);
    }
    const weights = await loadSafetensors(`${s.runDir}/ckpt-0000002/model.safetensors`);
    expect(HEAD.every((k) => weights.tensors.has(k))).toBe(true);
  });
});
