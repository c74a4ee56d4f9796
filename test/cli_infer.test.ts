import { afterAll, describe, expect, test, vi } from "vitest";
import "../src/ops/mod.ts";
import { manualSeed } from "../src/tensor/random.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { resolveConfig } from "../src/models/dmformer/config.ts";
import { generateRefShapesClip } from "../src/data/ref_shapes.ts";
import { encodeVideo } from "../src/media/video_encode.ts";
import { readPaletteMask, writePng } from "../src/media/png.ts";
import { unzipSync } from "../src/io/fflate.ts";
import { makeTinySetup, TEST_MODEL_SPEC } from "../src/pipeline/fixtures.ts";
import { saveModelWeights } from "../src/pipeline/checkpoint.ts";
import { resizeLogits } from "../src/pipeline/segment.ts";
import { main as inferMain } from "../tools/infer.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

const logged: string[] = [];

async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const spy = vi.spyOn(console, "log").mockImplementation((s) => logged.push(String(s)));
  const err = vi.spyOn(console, "error").mockImplementation(() => {});
  try {
    return await fn();
  } finally {
    spy.mockRestore();
    err.mockRestore();
  }
}

async function makeModelFiles(root: string) {
  manualSeed(5);
  const model = new DMFormer(resolveConfig(TEST_MODEL_SPEC as never));
  await saveModelWeights(model, `${root}/weights.safetensors`);
  const config = `${root}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({ model: TEST_MODEL_SPEC, inference: { shortSide: 48, windowFrames: 3 } }),
  );
  return { weights: `${root}/weights.safetensors`, config };
}

describe("deno task infer", () => {
  test("a video and two sentences -> masks, overlay, JSON per sentence", async () => {
    const root = await Deno.makeTempDir({ prefix: "dmf-infer-" });
    dirs.push(root);
    const { weights, config } = await makeModelFiles(root);
    const clip = generateRefShapesClip(11, { height: 48, width: 64, numFrames: 4 });
    await encodeVideo(`${root}/clip.mp4`, clip.frames, { fps: 5 });
    await quiet(() =>
      inferMain([
        "--checkpoint",
        weights,
        "--config",
        config,
        "--video",
        `${root}/clip.mp4`,
        "--sentence",
        clip.expressions[0].text,
        "--sentence",
        "the",
        "--out",
        `${root}/out`,
        "--window",
        "3",
        "--profile",
      ])
    );
    const profile = logged.find((s) => s.includes("kernel profile (cpu)"));
    expect(profile).toMatch(/\nmatmul\s+\d+\s+[\d.]+\s+[\d.]+%/);
    const dirsOut = [...Deno.readDirSync(`${root}/out`)].map((e) => e.name).sort();
    expect(dirsOut.length).toBe(2);
    expect(dirsOut[1]).toBe("01-the");
    for (const d of dirsOut) {
      const masks = [...Deno.readDirSync(`${root}/out/${d}/masks`)].map((e) => e.name).sort();
      expect(masks).toEqual(["00000.png", "00001.png", "00002.png", "00003.png"]);
      const m = await readPaletteMask(`${root}/out/${d}/masks/00000.png`);
      expect([m.width, m.height]).toEqual([64, 48]);
      expect(m.indices.every((v) => v === 0 || v === 1)).toBe(true);
      expect((await Deno.stat(`${root}/out/${d}/overlay.mp4`)).size).toBeGreaterThan(100);
      const result = JSON.parse(await Deno.readTextFile(`${root}/out/${d}/result.json`));
      expect(result.frames.length).toBe(4);
      expect(result.frames[0].box_xyxy.length).toBe(4);
      expect(result.frames[0].score).toBeGreaterThan(0);
      expect(result.query).toBeGreaterThanOrEqual(0);
    }
    const fallback = JSON.parse(await Deno.readTextFile(`${root}/out/01-the/result.json`));
    expect(fallback.noun_chunk_fallback).toBe(true);
  });

  test("--frames folder and --ytvos tree with the submission zip", async () => {
    const root = await Deno.makeTempDir({ prefix: "dmf-infer-" });
    dirs.push(root);
    const { weights, config } = await makeModelFiles(root);
    const clip = generateRefShapesClip(12, { height: 48, width: 48, numFrames: 3 });
    await Deno.mkdir(`${root}/frames`);
    for (let i = 0; i < 3; i++) await writePng(`${root}/frames/${i + 1}.png`, clip.frames[i]);
    await quiet(() =>
      inferMain([
        "--checkpoint",
        weights,
        "--config",
        config,
        "--frames",
        `${root}/frames`,
        "--sentence",
        "the shape",
        "--out",
        `${root}/out`,
        "--format",
        "gif",
      ])
    );
    const masks = [...Deno.readDirSync(`${root}/out/00-the-shape/masks`)].map((e) => e.name).sort();
    expect(masks).toEqual(["1.png", "2.png", "3.png"]);
    await Deno.stat(`${root}/out/00-the-shape/overlay.gif`);

    const setup = await makeTinySetup(`${root}/ds`, { videos: 1, frames: 2 });
    await quiet(() =>
      inferMain([
        "--checkpoint",
        weights,
        "--config",
        config,
        "--ytvos",
        setup.data,
        "--split",
        "valid",
        "--limit",
        "2",
        "--out",
        `${root}/yt`,
      ])
    );
    const zip = unzipSync(await Deno.readFile(`${root}/yt/submission.zip`));
    const names = Object.keys(zip).sort();
    expect(names.length).toBe(4); // 2 expressions x 2 frames
    expect(names[0]).toMatch(/^Annotations\/valid_0000\/0\/00000\.png$/);
    const png = await readPaletteMask(`${root}/yt/${names[0]}`, { grayscale: "ids" });
    expect(png.indices.every((v) => v === 0 || v === 255)).toBe(true);
  });

  test("bilinear mask upsampling matches align_corners=false", () => {
    // 2x2 -> 4x4: PyTorch gives [[1, 1.25, 1.75, 2], ...] for rows of [1, 2]
    const up = resizeLogits(Float32Array.of(1, 2, 3, 4), 2, 2, 4, 4);
    expect(Array.from(up.subarray(0, 4))).toEqual([1, 1.25, 1.75, 2]);
    expect(Array.from(up.subarray(12, 16))).toEqual([3, 3.25, 3.75, 4]);
    expect(up[4]).toBeCloseTo(1.5, 6);
  });
});
