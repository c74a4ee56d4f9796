/**
 * tools/pretrain_shapes_backbone.ts: the per-cell colour/kind labels of generated frames, and a
 * short run whose weights load into the model under the backbone's keys.
 */
import { afterAll, describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { attributeSample, main } from "../tools/pretrain_shapes_backbone.ts";
import { generateRefShapesClip } from "../src/data/ref_shapes.ts";
import { SHAPE_COLOURS, SHAPE_KINDS } from "../src/data/ref_shapes_render.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { loadTrainConfig } from "../src/pipeline/train_config.ts";
import { loadWeightsInto, readWeights } from "../src/pipeline/checkpoint.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));
const COLOURS = Object.keys(SHAPE_COLOURS);

describe("attributeSample", () => {
  test("labels each cell with the colour and kind of the shape under its centre", () => {
    const seed = 11;
    const clip = generateRefShapesClip(seed, { numFrames: 2 });
    const sample = attributeSample(seed, 96, 128, [8, 16]);
    expect(sample.frames.length).toBe(2 * 3 * 96 * 128);
    const { colour, kind } = sample.labels[0];
    expect(colour.length).toBe(2 * 12 * 16);
    let checked = 0;
    for (let f = 0; f < 2; f++) {
      for (let y = 0; y < 12; y++) {
        for (let x = 0; x < 16; x++) {
          const id = clip.instanceMaps[f][(y * 8 + 4) * 128 + x * 8 + 4];
          const i = (f * 12 + y) * 16 + x;
          const o = clip.objects.find((obj) => obj.id === id);
          expect(colour[i]).toBe(o ? COLOURS.indexOf(o.colour) + 1 : 0);
          expect(kind[i]).toBe(o ? SHAPE_KINDS.indexOf(o.kind) + 1 : 0);
          if (o) checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
    expect(sample.labels[1].colour.length).toBe(2 * 6 * 8);
  });
});

describe("pretrain_shapes_backbone", () => {
  test("writes the backbone under backbone.0.body.*, which loads into the model", async () => {
    const dir = await Deno.makeTempDir({ prefix: "dmf-pretrain-" });
    dirs.push(dir);
    const out = `${dir}/backbone.safetensors`;
    const config = "configs/ref_shapes_tiny.json";
    const count = await main(
      ["--config", config, "--out", out, "--steps", "2", "--clips", "1", "--backend", "cpu"],
    );
    const weights = await readWeights(out);
    expect(weights.size).toBe(count);
    expect([...weights.keys()].every((k) => k.startsWith("backbone.0.body."))).toBe(true);
    const model = new DMFormer((await loadTrainConfig(config)).model);
    const backboneKeys = [...model.stateDict().keys()].filter((k) => k.startsWith("backbone."));
    expect([...weights.keys()].sort()).toEqual(backboneKeys.sort());
    const report = await loadWeightsInto(model, out, { strict: false });
    expect(report.unexpected).toEqual([]);
    expect(report.mismatched).toEqual([]);
  });

  test("--init starts from earlier weights and refuses weights of another width", async () => {
    const dir = await Deno.makeTempDir({ prefix: "dmf-pretrain-init-" });
    dirs.push(dir);
    const config = "configs/ref_shapes_tiny.json";
    const run = (out: string, extra: string[]) =>
      main(["--config", config, "--out", out, "--clips", "1", "--backend", "cpu", ...extra]);
    await run(`${dir}/a.safetensors`, ["--steps", "1"]);
    await run(`${dir}/b.safetensors`, [
      "--steps",
      "1",
      "--lr",
      "1e-7",
      "--seed",
      "99",
      "--init",
      `${dir}/a.safetensors`,
    ]);
    const [a, b] = await Promise.all([
      readWeights(`${dir}/a.safetensors`),
      readWeights(`${dir}/b.safetensors`),
    ]);
    let largest = 0;
    for (const [key, t] of a) {
      const u = b.get(key)!.data as Float32Array;
      (t.data as Float32Array).forEach((v, i) => largest = Math.max(largest, Math.abs(v - u[i])));
    }
    // one AdamW step of lr 1e-7 moves each weight by about 1e-7; a fresh init would differ by ~0.1
    expect(largest).toBeLessThan(1e-5);

    const wide = JSON.parse(await Deno.readTextFile(config));
    wide.model.swin = { embedDim: 16, numHeads: [1, 2, 4, 8] };
    await Deno.writeTextFile(`${dir}/wide.json`, JSON.stringify(wide));
    await expect(main([
      "--config",
      `${dir}/wide.json`,
      "--out",
      `${dir}/c.safetensors`,
      "--init",
      `${dir}/a.safetensors`,
    ])).rejects.toThrow(/a\.safetensors/);
  });

  test("refuses a run without --out, and bad numbers", async () => {
    const config = ["--config", "configs/ref_shapes_tiny.json"];
    await expect(main(config)).rejects.toThrow(/--out/);
    const out = ["--out", "/nonexistent/x.safetensors"];
    await expect(main([...config, ...out, "--steps", "0"])).rejects.toThrow(/--steps/);
    await expect(main([...config, ...out, "--seed", "x"])).rejects.toThrow(/--seed/);
    await expect(main([...config, ...out, "--background-weight", "0"])).rejects.toThrow(
      /--background-weight/,
    );
  });
});
