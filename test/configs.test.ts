/**
 * The committed training configs parse and build their model, and the bundled demo (weights,
 * config, clips) fits together: every weight loads strictly and every clip has its files.
 */
import { describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { getBackend } from "../mod.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { loadTrainConfig } from "../src/pipeline/train_config.ts";
import { loadModelForInference } from "../src/pipeline/infer.ts";
import { loadSafetensors } from "../src/io/safetensors.ts";

const configs = [...Deno.readDirSync("configs")]
  .filter((e) => e.name.endsWith(".json"))
  .map((e) => `configs/${e.name}`)
  .sort();

describe("configs/*.json", () => {
  test.each(configs)("%s parses and builds its model", async (file) => {
    const config = await loadTrainConfig(file);
    const model = new DMFormer(config.model);
    expect(model.stateDict().size).toBeGreaterThan(100);
  });
});

describe("demo/", () => {
  test("the weights load strictly into the bundled config's model", async () => {
    const { model, setup } = await loadModelForInference(
      "demo/weights.safetensors",
      "demo/config.json",
      getBackend("cpu"),
    );
    const { tensors } = await loadSafetensors("demo/weights.safetensors");
    expect(tensors.size).toBe(model.stateDict().size);
    expect(setup.model.numQueries).toBeGreaterThan(1);
    // the bundled config must not point at files only the maintainer's machine has
    const raw = JSON.parse(await Deno.readTextFile("demo/config.json"));
    expect(raw.init).toBeUndefined();
  });

  test("every bundled clip has its video and a ground-truth mask per frame", async () => {
    const clips = JSON.parse(await Deno.readTextFile("demo/clips/clips.json"));
    expect(clips.length).toBeGreaterThan(0);
    for (const clip of clips) {
      expect(Deno.statSync(`demo/clips/${clip.video}`).size).toBeGreaterThan(1000);
      for (const frame of clip.frames) {
        expect(Deno.statSync(`demo/clips/${clip.name}/${frame}.png`).isFile).toBe(true);
      }
      const objects = new Set(clip.sentences.map((s: { obj_id: number }) => s.obj_id));
      expect(objects.size).toBeGreaterThanOrEqual(2);
    }
  });
});
