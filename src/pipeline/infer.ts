/**
 * Inference helpers of `deno task infer` and the demo: loading a model for inference, reading
 * a video or a frame folder, writing masks / overlay / JSON, and the Ref-YouTube-VOS and
 * Ref-DAVIS17 submission trees (design doc §13).
 */
import { join } from "node:path";
import type { Backend } from "../backend/backend.ts";
import { DMFormer } from "../models/dmformer/model.ts";
import { type DMFormerConfig, resolveConfig } from "../models/dmformer/config.ts";
import { BertTokenizer } from "../text/bert_tokenizer.ts";
import type { RgbImage } from "../media/frame.ts";
import { collectFrames } from "../media/frame.ts";
import { decodeVideo, probeVideo } from "../media/video.ts";
import { listFrameFiles, readFrameFolder } from "../media/frame_folder.ts";
import { encodeVideo } from "../media/video_encode.ts";
import { drawCaption, overlayMask, paletteColor } from "../media/overlay.ts";
import { writePaletteMask } from "../media/png.ts";
import { readImage } from "../media/image.ts";
import { writeFileAtomic } from "../media/atomic_write.ts";
import { zipSync } from "../io/fflate.ts";
import { findFrameFile } from "../data/frame_io.ts";
import { ytvosInferenceExpressions } from "../data/ytvos.ts";
import { readRefDavis } from "../data/davis.ts";
import type { VideoExpression } from "../data/types.ts";
import { parseInference, type TrainConfig } from "./train_config.ts";
import { loadWeightsInto, readWeights, resolveCheckpointDir } from "./checkpoint.ts";
import { type Segmentation, segmentClip } from "./segment.ts";
import type { ViewTransform } from "./test_time_views.ts";
import type { MaskCrfSettings } from "./mask_crf.ts";
import type { RelinkSettings } from "./relink_slots.ts";

export interface ModelSetup {
  model: DMFormerConfig;
  inference: TrainConfig["inference"];
  maxTextLength: number;
}

/**
 * Reads a config for inference: a training config (its "model", "inference" and
 * "maxTextLength") or a bare model config ({"base": "tiny", ...}).
 */
export async function loadModelSetup(path: string): Promise<ModelSetup> {
  let json;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`config file not found: ${path}`);
    throw new Error(`config ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== "object" || json === null) {
    throw new Error(`config ${path}: expected an object`);
  }
  const isTrain = "datasets" in json || "schedule" in json ||
    ("model" in json && !("base" in json));
  let model: DMFormerConfig;
  try {
    model = resolveConfig(isTrain ? (json.model ?? "tiny") : json);
  } catch (e) {
    throw new Error(`config ${path}: ${(e as Error).message}`);
  }
  return {
    model,
    inference: parseInference(isTrain ? json.inference : undefined, `config ${path}: inference`),
    maxTextLength: isTrain && typeof json.maxTextLength === "number"
      ? json.maxTextLength
      : Math.min(model.text.maxLength, model.text.maxPositionEmbeddings),
  };
}

export interface LoadedModel {
  model: DMFormer;
  tokenizer: BertTokenizer;
  setup: ModelSetup;
}

/** Builds the model of `configPath` on `backend` and loads `checkpoint` into it (strict). */
export async function loadModelForInference(
  checkpoint: string,
  configPath: string | undefined,
  backend: Backend,
): Promise<LoadedModel> {
  let cfgPath = configPath;
  if (!cfgPath) {
    // a run directory remembers its config
    try {
      const dir = await resolveCheckpointDir(checkpoint);
      const runConfig = join(dir, "..", "config.json");
      await Deno.stat(runConfig);
      cfgPath = runConfig;
    } catch {
      throw new Error("--config is required (the checkpoint does not come with a config)");
    }
  }
  const setup = await loadModelSetup(cfgPath);
  const model = new DMFormer(setup.model);
  await model.to(backend);
  await readWeights(checkpoint); // one clear "not found" error before anything else
  await loadWeightsInto(model, checkpoint, { strict: true });
  model.eval();
  model.requiresGrad(false);
  const tokenizer = await BertTokenizer.load();
  return { model, tokenizer, setup };
}

export interface InputFrames {
  frames: RgbImage[];
  /** Frame names without extension (frame folders) or zero-padded indices (videos). */
  names: string[];
  fps: number;
}

/** Reads every frame of a video file. */
export async function readVideoFrames(path: string, maxFrames?: number): Promise<InputFrames> {
  const info = await probeVideo(path);
  const frames = await collectFrames(decodeVideo(path, { maxFrames }));
  return {
    frames,
    names: frames.map((_, i) => String(i).padStart(5, "0")),
    fps: info.fps && Number.isFinite(info.fps) ? info.fps : 10,
  };
}

/** Reads a folder of JPEG/PNG frames (natural order). */
export async function readFolderFrames(dir: string, maxFrames?: number): Promise<InputFrames> {
  const files = (await listFrameFiles(dir)).slice(0, maxFrames);
  const frames = await collectFrames(readFrameFolder(dir, { maxFrames }));
  return { frames, names: files.map((f) => f.replace(/\.[^.]+$/, "")), fps: 10 };
}

/** A file-system friendly name for a sentence. */
export function slug(sentence: string, index: number): string {
  const s = sentence.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40);
  return `${String(index).padStart(2, "0")}-${s || "sentence"}`;
}

export interface WriteOptions {
  fps: number;
  /** Overlay format(s) to write. */
  formats: ("mp4" | "gif")[];
  colorIndex?: number;
}

/**
 * Writes one segmentation: masks/<frame>.png (palette PNG, 1 = object), overlay.<fmt> (50 %
 * colour overlay with the box and the sentence), result.json (per-frame scores and boxes).
 * Returns the written paths.
 */
export async function writeSegmentation(
  dir: string,
  seg: Segmentation,
  input: InputFrames,
  options: WriteOptions,
): Promise<string[]> {
  await Deno.mkdir(join(dir, "masks"), { recursive: true });
  const written: string[] = [];
  for (let f = 0; f < seg.masks.length; f++) {
    const path = join(dir, "masks", `${input.names[f]}.png`);
    await writePaletteMask(path, seg.width, seg.height, seg.masks[f]);
    written.push(path);
  }
  const color = paletteColor(options.colorIndex ?? 1);
  const overlays = input.frames.map((frame, f) =>
    drawCaption(overlayMask(frame, seg.masks[f], color, 0.5), seg.sentence)
  );
  for (const format of options.formats) {
    const path = join(dir, `overlay.${format}`);
    await encodeVideo(path, overlays, { fps: options.fps, format });
    written.push(path);
  }
  const json = {
    sentence: seg.sentence,
    query: seg.query,
    mean_score: seg.meanScore,
    subject_tokens: seg.subjectTokens,
    noun_chunk_fallback: seg.nounChunkFallback,
    width: seg.width,
    height: seg.height,
    frames: input.names.map((name, f) => ({
      frame: name,
      score: seg.scores[f],
      box_xyxy: seg.boxes[f].map((v) => Math.round(v * 100) / 100),
      mask_pixels: seg.masks[f].reduce((a, b) => a + b, 0),
    })),
  };
  const path = join(dir, "result.json");
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(json, null, 1) + "\n"));
  written.push(path);
  return written;
}

/** A grayscale palette: index i is (i, i, i), so 255 shows white and reads back as 255. */
export const GRAY_PALETTE: Uint8Array = (() => {
  const p = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) p.fill(i, i * 3, i * 3 + 3);
  return p;
})();

export interface BenchmarkOptions {
  out: string;
  windowFrames: number;
  shortSide: number;
  maxLength: number;
  /** Test-time views (segmentClip's `testTimeAugment`). */
  testTimeAugment?: readonly ViewTransform[];
  /** Clips of this many frames anchored by a whole-window pass (segmentClip's `clipFrames`). */
  clipFrames?: number;
  /** Edge-aware mask refinement (segmentClip's `maskCrf`). */
  maskCrf?: MaskCrfSettings | null;
  /** Slot relinking (segmentClip's `relinkSlots`). */
  relinkSlots?: RelinkSettings | null;
  /** Only the first n expressions (quick checks). */
  limit?: number;
  onProgress?: (done: number, total: number, e: VideoExpression) => void;
}

/** The frames of an expression's video, `<imageDir>/<video>/<frame>.jpg|png`, in its order. */
export async function readExpressionFrames(
  imageDir: string,
  e: VideoExpression,
): Promise<RgbImage[]> {
  const frames: RgbImage[] = [];
  for (const f of e.frames) {
    frames.push(await readImage(await findFrameFile(join(imageDir, e.video), f)));
  }
  return frames;
}

/**
 * Runs every expression and writes <out>/Annotations/<video>/<exp_id>/<frame>.png (255 =
 * object), then <out>/submission.zip holding the Annotations tree.
 */
export async function runBenchmark(
  loaded: LoadedModel,
  expressions: VideoExpression[],
  imageDir: string,
  options: BenchmarkOptions,
): Promise<{ expressions: number; zip: string }> {
  const list = expressions.slice(0, options.limit ?? expressions.length);
  const files: Record<string, Uint8Array> = {};
  let cache = null as { video: string; frames: RgbImage[] } | null;
  const { encodePaletteMask } = await import("../media/png.ts");
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    if (cache?.video !== e.video) {
      cache = { video: e.video, frames: await readExpressionFrames(imageDir, e) };
    }
    const seg = await segmentClip(loaded.model, cache.frames, e.caption, {
      tokenizer: loaded.tokenizer,
      shortSide: options.shortSide,
      windowFrames: options.windowFrames,
      testTimeAugment: options.testTimeAugment,
      clipFrames: options.clipFrames,
      maskCrf: options.maskCrf,
      relinkSlots: options.relinkSlots,
      maxLength: options.maxLength,
    });
    const dir = join(options.out, "Annotations", e.video, e.expId);
    await Deno.mkdir(dir, { recursive: true });
    for (let f = 0; f < e.frames.length; f++) {
      const png = await encodePaletteMask(
        seg.width,
        seg.height,
        seg.masks[f].map((v) => v * 255),
        GRAY_PALETTE,
      );
      await writeFileAtomic(join(dir, `${e.frames[f]}.png`), png);
      files[`Annotations/${e.video}/${e.expId}/${e.frames[f]}.png`] = png;
    }
    options.onProgress?.(i + 1, list.length, e);
  }
  const zip = join(options.out, "submission.zip");
  await writeFileAtomic(zip, zipSync(files));
  return { expressions: list.length, zip };
}

/** Ref-YouTube-VOS inference expressions and image folder of `split`. */
export async function ytvosJobs(root: string, split: string) {
  if (split !== "valid") {
    const { readYtvosMeta, expressionsFromMeta } = await import("../data/ytvos.ts");
    const meta = await readYtvosMeta(root, split as "train" | "valid" | "test");
    return { expressions: expressionsFromMeta(meta), imageDir: `${root}/${split}/JPEGImages` };
  }
  return {
    expressions: await ytvosInferenceExpressions(root),
    imageDir: `${root}/valid/JPEGImages`,
  };
}

/** Ref-DAVIS17 expressions (valid split) and image folder. */
export async function davisJobs(root: string, split: string) {
  const tree = await readRefDavis(root, split === "train" ? "train" : "valid");
  return { expressions: tree.expressions as VideoExpression[], imageDir: tree.imageRoot };
}
