/**
 * The library API (src/api): loading, segmenting every kind of video input, streaming windows,
 * aborts and the errors users see. The tiny configuration with random weights: behaviour, not
 * accuracy.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  loadModel,
  type RgbImage,
  SegmentationError,
  type SegmentationModel,
} from "../src/api/mod.ts";
import { encodeVideoBytes, writePng } from "../src/media/mod.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { resolveConfig } from "../src/models/dmformer/config.ts";
import { manualSeed } from "../src/tensor/random.ts";
import { saveCheckpoint, saveModelWeights } from "../src/pipeline/checkpoint.ts";

const W = 48, H = 32;
const TINY = { base: "tiny", text: { vocabSize: 30522 } };

function frame(i: number): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let p = 0; p < W * H; p++) data.set([30, 50, 70], p * 3);
  for (let y = 8; y < 24; y++) {
    for (let x = 2 + 3 * i; x < 18 + 3 * i; x++) data.set([230, 30, 30], (y * W + x) * 3);
  }
  return { width: W, height: H, data };
}

const frames = Array.from({ length: 7 }, (_, i) => frame(i));
const dir = await Deno.makeTempDir({ prefix: "dmformer-api-test-" });
let model: SegmentationModel;
let mp4: Uint8Array;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SegmentationError) return error.code;
    throw error;
  }
  return "no error";
}

beforeAll(async () => {
  model = await loadModel({ config: TINY, seed: 3, inputSize: null });
  mp4 = await encodeVideoBytes(frames, { fps: 12, format: "mp4" });
  await Deno.writeFile(`${dir}/clip.mp4`, mp4);
  await Deno.mkdir(`${dir}/frames`);
  for (const [i, f] of frames.entries()) await writePng(`${dir}/frames/${i}.png`, f);
});

afterAll(async () => {
  model?.dispose();
  await Deno.remove(dir, { recursive: true });
});

describe("segment", () => {
  test("frames in, one mask per frame at the frame size, scores and boxes", async () => {
    const r = await model.segment(frames, "the red square");
    expect([r.width, r.height, r.fps]).toEqual([W, H, 30]);
    expect(r.masks).toHaveLength(7);
    expect(r.scores).toHaveLength(7);
    expect(r.boxes).toHaveLength(7);
    for (const m of r.masks) {
      expect(m).toBeInstanceOf(Uint8Array);
      expect(m.length).toBe(W * H);
      expect(m.every((v) => v === 0 || v === 1)).toBe(true);
    }
    for (const s of r.scores) expect(s > 0 && s < 1).toBe(true);
    for (const b of r.boxes) expect(b).toHaveLength(4);
    expect(model.backend).toBe("cpu");
    expect(model.checkpoint).toBe(null);
  });

  test("a video file, its bytes and a frame folder give frames of the same size", async () => {
    const fromPath = await model.segment(`${dir}/clip.mp4`, "the red square");
    const fromBytes = await model.segment(mp4, "the red square", { maxFrames: 5 });
    const fromFolder = await model.segment(`${dir}/frames`, "the red square", { fps: 12 });
    expect(fromPath.masks).toHaveLength(7);
    expect(fromPath.fps).toBeCloseTo(12, 3);
    expect(fromBytes.masks).toHaveLength(5);
    expect(fromFolder.masks).toHaveLength(7);
    expect(fromFolder.fps).toBe(12);
    for (const r of [fromPath, fromBytes, fromFolder]) {
      expect([r.width, r.height]).toEqual([W, H]);
      expect(r.masks[0].length).toBe(W * H);
    }
    // lossless PNG frames are the input frames exactly
    const direct = await model.segment(frames, "the red square");
    expect(fromFolder.masks).toEqual(direct.masks);
  });

  test("maskCrf refines the masks only: same slot, scores and boxes; false is the default", async () => {
    const plain = await model.segment(frames, "the red square");
    const off = await model.segment(frames, "the red square", { maskCrf: false });
    const refined = await model.segment(frames, "the red square", { maskCrf: { radius: 2 } });
    expect(off.masks).toEqual(plain.masks);
    expect(refined.scores).toEqual(plain.scores);
    expect(refined.boxes).toEqual(plain.boxes);
    expect(refined.masks).toHaveLength(plain.masks.length);
    for (const m of refined.masks) expect(m.length).toBe(W * H);
  });

  test("threshold changes the masks monotonically", async () => {
    const low = await model.segment(frames.slice(0, 2), "a square", { threshold: 0.01 });
    const high = await model.segment(frames.slice(0, 2), "a square", { threshold: 0.99 });
    const area = (ms: Uint8Array[]) => ms.reduce((s, m) => s + m.reduce((a, v) => a + v, 0), 0);
    expect(area(low.masks)).toBeGreaterThanOrEqual(area(high.masks));
  });
});

describe("segmentStream", () => {
  test("windows cover the video in order; one window equals segment()", async () => {
    const windows = [];
    for await (const w of model.segmentStream(frames, "the red square", { windowSize: 3 })) {
      expect(w.frames).toHaveLength(w.masks.length);
      expect(w.masks.every((m) => m.length === W * H)).toBe(true);
      windows.push([w.start, w.masks.length]);
    }
    expect(windows).toEqual([[0, 3], [3, 3], [6, 1]]);

    const whole = await model.segment(frames, "the red square", { windowSize: 8 });
    const streamed = [];
    for await (const w of model.segmentStream(`${dir}/frames`, "the red square")) streamed.push(w);
    expect(streamed).toHaveLength(1);
    expect(streamed[0].masks).toEqual(whole.masks);
    expect(streamed[0].scores).toEqual(whole.scores);
  });

  test("an abort stops the stream between windows with the signal's reason", async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const run = (async () => {
      for await (
        const w of model.segmentStream(frames, "a square", {
          windowSize: 2,
          signal: controller.signal,
        })
      ) {
        seen.push(w.start);
        controller.abort(new Error("stop here"));
      }
    })();
    await expect(run).rejects.toThrow("stop here");
    expect(seen).toEqual([0]);
    const already = AbortSignal.abort();
    await expect(model.segment(frames, "a square", { signal: already })).rejects.toMatchObject({
      name: "AbortError",
    });
  });
});

describe("errors", () => {
  test("bad input: empty sentence, corrupt or missing video, bad options", async () => {
    expect(await codeOf(model.segment(frames, "  \n "))).toBe("empty_sentence");
    expect(await codeOf(model.segment(new Uint8Array([1, 2, 3, 4, 5]), "a cat"))).toBe(
      "invalid_video",
    );
    expect(await codeOf(model.segment(`${dir}/missing.mp4`, "a cat"))).toBe("invalid_video");
    expect(await codeOf(model.segment([], "a cat"))).toBe("invalid_video");
    const odd = [frames[0], { width: 8, height: 8, data: new Uint8Array(192) }];
    expect(await codeOf(model.segment(odd, "a cat"))).toBe("invalid_input");
    expect(await codeOf(model.segment(frames, "a cat", { threshold: 2 }))).toBe("invalid_input");
    expect(await codeOf(model.segment(frames, "a cat", { windowSize: 0 }))).toBe("invalid_input");
    expect(await codeOf(model.segment(frames, "a cat", { clipFrames: 1.5 }))).toBe("invalid_input");
    const crf = { radius: -1 };
    expect(await codeOf(model.segment(frames, "a cat", { maskCrf: crf }))).toBe("invalid_input");
    const relink = { margin: -1 };
    expect(await codeOf(model.segment(frames, "a cat", { relinkSlots: relink }))).toBe(
      "invalid_input",
    );
    const views = ["hflip", "rotate"] as unknown as ["hflip"];
    expect(await codeOf(model.segment(frames, "a cat", { testTimeAugment: views }))).toBe(
      "invalid_input",
    );
    const stream = model.segmentStream(new Uint8Array(100), "a cat");
    expect(await codeOf(Array.fromAsync(stream))).toBe("invalid_video");
  });

  test("bad setup: unknown config or backend, missing or corrupt checkpoint", async () => {
    expect(await codeOf(loadModel({ config: "swin-x" }))).toBe("unknown_config");
    expect(await codeOf(loadModel({ config: { base: "tiny", hiddenDims: 3 } }))).toBe(
      "invalid_config",
    );
    expect(await codeOf(loadModel({ config: `${dir}/nope.json` }))).toBe("unknown_config");
    const vocab = loadModel({ config: "tiny" });
    await expect(vocab).rejects.toThrow(/set text.vocabSize to 30522/);
    expect(await codeOf(loadModel({ config: TINY, backend: "tpu" as "cpu" }))).toBe(
      "unknown_backend",
    );
    expect(await codeOf(loadModel({ config: TINY, checkpoint: `${dir}/none.safetensors` }))).toBe(
      "checkpoint_not_found",
    );
    await Deno.writeFile(`${dir}/junk.safetensors`, new Uint8Array(64).fill(7));
    expect(await codeOf(loadModel({ config: TINY, checkpoint: `${dir}/junk.safetensors` }))).toBe(
      "invalid_checkpoint",
    );
    const disposed = await loadModel({ config: TINY });
    disposed.dispose();
    expect(await codeOf(disposed.segment(frames, "a cat"))).toBe("disposed");
  });
});

describe("checkpoints and config files", () => {
  test("weights saved from a seeded model reproduce that model; a training config is read", async () => {
    const config = resolveConfig(TINY);
    manualSeed(3);
    const net = new DMFormer(config);
    await saveModelWeights(net, `${dir}/tiny.safetensors`);
    net.dispose();
    await Deno.writeTextFile(`${dir}/train.json`, JSON.stringify({ model: TINY, batchSize: 1 }));
    const loaded = await loadModel({
      config: `${dir}/train.json`,
      checkpoint: `${dir}/tiny.safetensors`,
      inputSize: null,
    });
    try {
      expect(loaded.checkpoint).toBe(`${dir}/tiny.safetensors`);
      const a = await loaded.segment(frames.slice(0, 3), "the red square");
      const b = await model.segment(frames.slice(0, 3), "the red square");
      expect(a.masks).toEqual(b.masks);
      expect(a.scores).toEqual(b.scores);
    } finally {
      loaded.dispose();
    }
    // a training run's folder brings its own config (and inference defaults)
    manualSeed(3);
    const again = new DMFormer(config);
    const rng = { seed: 0, offset: 0 };
    await saveCheckpoint(`${dir}/run`, again, null, {
      step: 1,
      epoch: 0,
      batchInEpoch: 1,
      schedulerEpoch: 0,
      rng,
    });
    again.dispose();
    await Deno.writeTextFile(
      `${dir}/run/config.json`,
      JSON.stringify({ model: TINY, inference: { shortSide: 32, windowFrames: 2 } }),
    );
    const run = await loadModel({ checkpoint: `${dir}/run` });
    try {
      const windows = await Array.fromAsync(run.segmentStream(frames.slice(0, 3), "a square"));
      expect(windows.map((w) => w.masks.length)).toEqual([2, 1]);
    } finally {
      run.dispose();
    }
    expect(await codeOf(loadModel({ checkpoint: `${dir}/tiny.safetensors` }))).toBe(
      "invalid_config",
    );
    // the same weights do not fit another configuration
    const other = loadModel({
      config: { ...TINY, hiddenDim: 32 },
      checkpoint: `${dir}/tiny.safetensors`,
    });
    expect(await codeOf(other)).toBe("invalid_checkpoint");
  });
});
