import { afterAll, describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { getBackend } from "../src/backend/backend.ts";
import { manualSeed } from "../src/tensor/random.ts";
import { makeTinySetup } from "../src/pipeline/fixtures.ts";
import { parseTrainConfig } from "../src/pipeline/train_config.ts";
import { openTrainingData, parameterGroups, trainStep } from "../src/pipeline/train.ts";
import { prepareBatch, subjectTokenLabels, tokenizeCaption } from "../src/pipeline/batch.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { SetCriterion } from "../src/models/dmformer/criterion.ts";
import { AdamW } from "../src/optim/adamw.ts";
import { BertTokenizer } from "../src/text/bert_tokenizer.ts";
import { main as trainMain } from "../tools/train.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

async function setup(overrides: Record<string, unknown> = {}) {
  const root = await Deno.makeTempDir({ prefix: "dmf-train-" });
  dirs.push(root);
  return await makeTinySetup(root, { videos: 1, frames: 2, overrides });
}

describe("prepareBatch and trainStep", () => {
  test("batch tensors, targets, subject labels from the generator's spans", async () => {
    const s = await setup();
    const config = parseTrainConfig(s.config, "", "test");
    const data = await openTrainingData(config);
    const tokenizer = await BertTokenizer.load();
    const clips = [await data.get(0, 0), await data.get(1, 0)];
    const sources: string[] = [];
    const batch = await prepareBatch(clips, tokenizer, getBackend("cpu"), {
      maxLength: 32,
      onSubjectSource: (src) => sources.push(src),
    });
    expect(sources).toEqual(["synthetic", "synthetic"]);
    const [b, t, c, H, W] = batch.video.frames.shape;
    expect([b, t, c, H % 32, W % 32]).toEqual([2, 2, 3, 0, 0]);
    expect(batch.video.mask.length).toBe(b * t * H * W);
    expect(batch.captions.positiveMaps.length).toBe(2);
    expect(batch.targets[0].masks.length).toBe(t * batch.sizes[0][0] * batch.sizes[0][1]);
    // "the big square on the left" with span [0, 3) -> tokens 1..3 ([CLS] is 0)
    const tok = await tokenizeCaption(tokenizer, "the big square on the left", 32);
    const labels = subjectTokenLabels(
      { source: "synthetic", tokenSpan: [0, 3] },
      "the big square on the left",
      tok,
    );
    expect(Array.from(labels)).toEqual([0, 1, 1, 1, 0, 0, 0, 0]);
    // chunk index -> that chunk's positive-map span
    const chunk = subjectTokenLabels(
      { source: "file", chunkIndex: 0 },
      "the big square on the left",
      tok,
    );
    const [first, last] = tok.positiveMap.values().next().value!;
    expect(Array.from(chunk)).toEqual(
      Array.from({ length: tok.length }, (_, k) => (k >= first && k <= last ? 1 : 0)),
    );
  });

  test("the loss falls over a few steps on one batch", async () => {
    const s = await setup();
    const config = parseTrainConfig(s.config, "", "test");
    manualSeed(1);
    const model = new DMFormer(config.model);
    const data = await openTrainingData(config);
    const tokenizer = await BertTokenizer.load();
    const batch = await prepareBatch([await data.get(0, 0)], tokenizer, getBackend("cpu"), {
      maxLength: 32,
    });
    config.schedule.lr = { backbone: 1e-3, textEncoder: 1e-3, rest: 1e-3, linearProjMult: 1 };
    const optimizer = new AdamW(parameterGroups(model, config), { weightDecay: 5e-4 });
    const crit = new SetCriterion({ numClasses: 1 });
    const losses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await trainStep(model, crit, optimizer, batch, 0.1);
      expect(Number.isFinite(r.gradNorm)).toBe(true);
      expect(Object.keys(r.losses)).toContain("subject");
      losses.push(r.total);
    }
    expect(losses[5]).toBeLessThan(losses[0] * 0.9);
  });
});

describe("deno task train (in-process)", () => {
  test("runs, logs JSONL with losses and lrs, checkpoints", async () => {
    const s = await setup({ schedule: { epochs: 1, maxSteps: 3 }, checkpoint: { everySteps: 2 } });
    await trainMain(["--config", s.configPath, "--quiet"]);
    const log = (await Deno.readTextFile(`${s.runDir}/log.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    expect(log.map((e) => e.step)).toEqual([1, 2, 3]);
    expect(log[0].lr).toEqual({
      backbone: 5e-5,
      text_encoder: 1e-5,
      linear_proj: 1e-4,
      rest: 1e-4,
    });
    expect(typeof log[0].losses.loss_dice).toBe("number");
    expect(log[0].subject_sources).toEqual({ synthetic: 1 });
    const latest = JSON.parse(await Deno.readTextFile(`${s.runDir}/latest.json`));
    expect(latest).toEqual({ checkpoint: "ckpt-0000003", step: 3 });
    for (const f of ["model.safetensors", "optimizer.safetensors", "state.json"]) {
      await Deno.stat(`${s.runDir}/ckpt-0000002/${f}`);
    }
    const state = JSON.parse(await Deno.readTextFile(`${s.runDir}/ckpt-0000003/state.json`));
    expect([state.step, state.epoch, state.batchInEpoch]).toEqual([3, 0, 3]);
    expect(state.rng.seed).toBe(3);
  });

  test("config errors name the file and the field", () => {
    const base = { datasets: [{ type: "ref-shapes", root: "x" }] };
    expect(() => parseTrainConfig({ ...base, epochs: 3 }, "", "c.json")).toThrow(
      /c.json: unknown key "epochs"/,
    );
    expect(() => parseTrainConfig({ datasets: [{ type: "kinetics", root: "x" }] }, "", "c.json"))
      .toThrow(/unknown dataset type "kinetics"/);
    expect(() => parseTrainConfig({ ...base, schedule: { epochs: "6" } }, "", "c.json")).toThrow(
      /schedule.epochs: expected a number/,
    );
    expect(() => parseTrainConfig({ ...base, model: { base: "tiny", hidden: 3 } }, "", "c.json"))
      .toThrow(/model: config: unknown key "hidden"/);
    expect(() => parseTrainConfig({}, "", "c.json")).toThrow(/"datasets" must be a non-empty list/);
  });
});
