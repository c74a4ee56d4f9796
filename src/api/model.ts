/**
 * The library-level API: load a model once, segment videos with sentences. Everything below
 * (backends, tensors, the tokenizer, checkpoint formats, the reference's post-processing in
 * pipeline/segment.ts) stays behind these few names.
 */
import "../ops/mod.ts";
import { type Backend, useBackend } from "../backend/backend.ts";
import { selectBackendByName } from "../backend/select_name.ts";
import { DMFormer } from "../models/dmformer/model.ts";
import { type DMFormerConfig, NAMED_CONFIGS, resolveConfig } from "../models/dmformer/config.ts";
import { manualSeed } from "../tensor/random.ts";
import { BertTokenizer } from "../text/bert_tokenizer.ts";
import { cleanCaption } from "../text/caption.ts";
import type { RgbImage } from "../media/frame.ts";
import { join } from "node:path";
import { loadWeightsInto, resolveCheckpointDir } from "../pipeline/checkpoint.ts";
import { loadModelSetup } from "../pipeline/infer.ts";
import { segmentClip } from "../pipeline/segment.ts";
import { parseViewTransforms, type ViewTransform } from "../pipeline/test_time_views.ts";
import { maskCrfChoice, type MaskCrfSettings } from "../pipeline/mask_crf.ts";
import { relinkChoice, type RelinkSettings } from "../pipeline/relink_slots.ts";
import { firstLine, SegmentationError } from "./errors.ts";
import { openVideo, type VideoInput } from "./video_source.ts";

/** Backends `loadModel` accepts; "auto" measures which available one is fastest. */
export const BACKEND_NAMES = ["cpu", "native", "webgpu", "cuda", "auto"] as const;
export type BackendName = typeof BACKEND_NAMES[number];

/** Configuration overrides on a named base, e.g. `{ base: "tiny", hiddenDim: 32 }`. */
export type ConfigOverrides = { base?: string } & Record<string, unknown>;

export interface LoadModelOptions {
  /**
   * The model configuration: a name ("swin-t" is the paper's model, "tiny" the small test
   * model), a path to a JSON file ending in ".json" (a model config, or a training config /
   * a training run's config.json, whose "model" and "inference" entries are used), or
   * overrides on a named base. May be left out when `checkpoint` is a training run's folder
   * (its config.json is used).
   */
  config?: string | ConfigOverrides;
  /**
   * Weights: a .safetensors file, an official .pth checkpoint, or a training checkpoint or run
   * directory. Without one the weights are random (useful for tests, useless for accuracy).
   */
  checkpoint?: string;
  /** Where the model runs (default "cpu"). */
  backend?: BackendName;
  /** Seed of the random weights when there is no checkpoint (default 0). */
  seed?: number;
  /** A vocab.txt or HF tokenizer.json; default the bert-base-uncased vocabulary. */
  tokenizer?: { vocabPath?: string; tokenizerJsonPath?: string };
  /**
   * Frames are resized so that their shorter side is this many pixels before the model sees
   * them (the reference uses 360); null feeds them at their own size. Masks always come back
   * at the input's size. Default: the config file's inference.shortSide, else 360.
   */
  inputSize?: number | null;
}

export interface SegmentOptions {
  /** Probability above which a pixel belongs to the object (default 0.5). */
  threshold?: number;
  /**
   * Frames per forward pass (default: the config file's inference.windowFrames, else 36).
   * `segment` picks the object over the whole video as the reference does; `segmentStream`
   * picks it per window.
   */
  windowSize?: number;
  /** Aborts between windows; the promise or iterator rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Only the first `maxFrames` frames are segmented. */
  maxFrames?: number;
  /** Overrides the model's `inputSize` for this call. */
  inputSize?: number | null;
  /** Frame rate reported for frame folders and frame arrays (default 30). */
  fps?: number;
  /**
   * Test-time views fused with the plain one (not in the reference): "hflip" (mirrored, left and
   * right swapped in the sentence) and/or "reverse" (played backwards, "moving left" read as
   * "moving right"); each view is one more forward pass. Default: the config file's
   * inference.testTimeAugment, else none.
   */
  testTimeAugment?: readonly ViewTransform[];
  /**
   * Run the model on clips of this many frames, their query slots anchored by one whole-window
   * pass (not in the reference; 0 = off). Default: the config file's inference.clipFrames, else 0.
   */
  clipFrames?: number;
  /**
   * Refine the masks along the frame's colour edges with a small conditional random field (not in
   * the reference): `true` for the default settings, an object to change some, `false` for off.
   * Default: the config file's inference.maskCrf, else off.
   */
  maskCrf?: boolean | Partial<MaskCrfSettings>;
  /**
   * Before choosing the object, let each query slot follow its object's masks from frame to frame
   * instead of its query index (not in the reference): `true` for the default settings, an object
   * to change them, `false` for off. Default: the config file's inference.relinkSlots, else off.
   */
  relinkSlots?: boolean | Partial<RelinkSettings>;
}

/** A box in pixels of the input frame: left, top, right, bottom. */
export type Box = [x0: number, y0: number, x1: number, y1: number];

/** The referred object in every frame of a video. */
export interface SegmentationResult {
  width: number;
  height: number;
  /** Frames per second of the source (the `fps` option for frames without timing). */
  fps: number;
  /** One mask per frame, `width * height` bytes row-major, 1 = the referred object. */
  masks: Uint8Array[];
  /** Per frame: the probability that the chosen object is the referred one. */
  scores: number[];
  /** Per frame: the predicted box of the object. */
  boxes: Box[];
}

/** The result for a run of consecutive frames, from `segmentStream`. */
export interface SegmentedWindow extends SegmentationResult {
  /** Index of the window's first frame in the video. */
  start: number;
  /** The window's input frames (e.g. for overlays); dropped by the model after yielding. */
  frames: RgbImage[];
}

/** A loaded model; share one across calls (calls are serialised), `dispose()` it at the end. */
export interface SegmentationModel {
  /** The resolved configuration. */
  readonly config: Readonly<DMFormerConfig>;
  /** Name of the backend the model runs on. */
  readonly backend: string;
  /** The checkpoint path, or null for random weights. */
  readonly checkpoint: string | null;
  /**
   * Segments the object `sentence` refers to in every frame of `video`. The whole video is
   * decoded first (use `segmentStream` for long videos).
   */
  segment(
    video: VideoInput,
    sentence: string,
    options?: SegmentOptions,
  ): Promise<SegmentationResult>;
  /**
   * Segments window by window while decoding: memory holds one window of frames at a time,
   * however long the video. Each window picks its object on its own (a video that fits in one
   * window gives exactly `segment`'s result).
   */
  segmentStream(
    video: VideoInput,
    sentence: string,
    options?: SegmentOptions,
  ): AsyncIterable<SegmentedWindow>;
  /** Frees the weights; later calls throw a "disposed" SegmentationError. */
  dispose(): void;
}

const DEFAULT_WINDOW = 36;

/** The model config plus the inference defaults a training config may carry. */
interface Setup {
  config: DMFormerConfig;
  inputSize?: number;
  windowSize?: number;
  testTimeAugment?: ViewTransform[];
  clipFrames?: number;
  maskCrf?: MaskCrfSettings | null;
  relinkSlots?: RelinkSettings | null;
  maxTextLength?: number;
}

async function readConfigFile(path: string): Promise<Setup> {
  try {
    // a bare model config, or a training config / a run's config.json ("model", "inference")
    const setup = await loadModelSetup(path);
    return {
      config: setup.model,
      inputSize: setup.inference.shortSide,
      windowSize: setup.inference.windowFrames,
      testTimeAugment: setup.inference.testTimeAugment,
      clipFrames: setup.inference.clipFrames,
      maskCrf: setup.inference.maskCrf,
      relinkSlots: setup.inference.relinkSlots,
      maxTextLength: setup.maxTextLength,
    };
  } catch (error) {
    const code = /not found|unknown model config/.test(firstLine(error))
      ? "unknown_config"
      : "invalid_config";
    throw new SegmentationError(code, firstLine(error), { cause: error });
  }
}

function resolveModelConfigName(name: string): DMFormerConfig {
  if (NAMED_CONFIGS[name]) return resolveConfig(name);
  throw new SegmentationError(
    "unknown_config",
    `unknown model config "${name}" (known: ${Object.keys(NAMED_CONFIGS).join(", ")}, ` +
      `or a path to a .json file)`,
  );
}

/** The config.json of the training run a checkpoint directory belongs to, if any. */
async function runConfigOf(checkpoint: string): Promise<string | undefined> {
  try {
    const dir = await resolveCheckpointDir(checkpoint);
    for (const candidate of [join(dir, "config.json"), join(dir, "..", "config.json")]) {
      if (await Deno.stat(candidate).then((i) => i.isFile, () => false)) return candidate;
    }
  } catch {
    // not a checkpoint directory
  }
  return undefined;
}

async function resolveSetup(
  spec: string | ConfigOverrides | undefined,
  checkpoint: string | undefined,
): Promise<Setup> {
  if (spec === undefined) {
    const runConfig = checkpoint === undefined ? undefined : await runConfigOf(checkpoint);
    if (runConfig) return await readConfigFile(runConfig);
    throw new SegmentationError(
      "invalid_config",
      `"config" is required (${Object.keys(NAMED_CONFIGS).join(", ")}, a .json path or an ` +
        `object) unless the checkpoint is a training run's folder`,
    );
  }
  if (typeof spec === "string") {
    if (spec.endsWith(".json")) return await readConfigFile(spec);
    return { config: resolveModelConfigName(spec) };
  }
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
    throw new SegmentationError(
      "invalid_config",
      "config must be a name, a .json path or an object",
    );
  }
  try {
    return { config: resolveConfig(spec as Parameters<typeof resolveConfig>[0]) };
  } catch (error) {
    const code = /unknown model config/.test(firstLine(error))
      ? "unknown_config"
      : "invalid_config";
    throw new SegmentationError(code, `config: ${firstLine(error)}`, { cause: error });
  }
}

async function openBackend(name: string): Promise<Backend> {
  if (!(BACKEND_NAMES as readonly string[]).includes(name)) {
    throw new SegmentationError(
      "unknown_backend",
      `unknown backend "${name}" (choose one of: ${BACKEND_NAMES.join(", ")})`,
    );
  }
  try {
    if (name === "native") await import("../backend/native/mod.ts");
    if (name === "cuda") await import("../backend/cuda/mod.ts");
    return await selectBackendByName(name);
  } catch (error) {
    throw new SegmentationError(
      "backend_unavailable",
      `backend "${name}" is not available here: ${firstLine(error)}`,
      { cause: error },
    );
  }
}

/** Checks a sentence; returns the cleaned caption the model sees. */
export function checkSentence(sentence: unknown): string {
  if (typeof sentence !== "string") {
    throw new SegmentationError("invalid_input", "the sentence must be a string");
  }
  const caption = cleanCaption(sentence);
  if (caption === "") throw new SegmentationError("empty_sentence", "the sentence is empty");
  return caption;
}

function checkOptions(options: SegmentOptions): void {
  const { threshold, windowSize, maxFrames, inputSize, fps } = options;
  const bad = (message: string) => new SegmentationError("invalid_input", message);
  if (options.testTimeAugment !== undefined) {
    try {
      parseViewTransforms(options.testTimeAugment, "testTimeAugment");
    } catch (error) {
      throw bad(firstLine(error));
    }
  }
  const { clipFrames } = options;
  if (clipFrames !== undefined && !(Number.isInteger(clipFrames) && clipFrames >= 0)) {
    throw bad(`clipFrames must be an integer >= 0, got ${clipFrames}`);
  }
  try {
    maskCrfChoice(options.maskCrf);
    relinkChoice(options.relinkSlots);
  } catch (error) {
    throw bad(firstLine(error));
  }
  if (threshold !== undefined && !(threshold > 0 && threshold < 1)) {
    throw bad(`threshold must be in (0, 1), got ${threshold}`);
  }
  if (windowSize !== undefined && !(Number.isInteger(windowSize) && windowSize >= 1)) {
    throw bad(`windowSize must be an integer >= 1, got ${windowSize}`);
  }
  if (maxFrames !== undefined && !(Number.isInteger(maxFrames) && maxFrames >= 1)) {
    throw bad(`maxFrames must be an integer >= 1, got ${maxFrames}`);
  }
  if (inputSize != null && !(Number.isInteger(inputSize) && inputSize >= 16)) {
    throw bad(`inputSize must be an integer >= 16 or null, got ${inputSize}`);
  }
  if (fps !== undefined && !(fps > 0 && Number.isFinite(fps))) throw bad(`invalid fps ${fps}`);
}

/** One-at-a-time lock: the model's forward pass is not re-entrant. */
class Lock {
  private tail: Promise<void> = Promise.resolve();
  async run<T>(job: () => Promise<T>): Promise<T> {
    const previous = this.tail;
    let done!: () => void;
    this.tail = new Promise((resolve) => (done = resolve));
    await previous;
    try {
      return await job();
    } finally {
      done();
    }
  }
}

class Model implements SegmentationModel {
  readonly backend: string;
  private disposed = false;
  private lock = new Lock();

  constructor(
    private net: DMFormer,
    private tokenizer: BertTokenizer,
    readonly config: Readonly<DMFormerConfig>,
    backend: Backend,
    readonly checkpoint: string | null,
    private defaults: {
      inputSize: number | null;
      windowSize: number;
      testTimeAugment: readonly ViewTransform[];
      clipFrames: number;
      maskCrf: MaskCrfSettings | null;
      relinkSlots: RelinkSettings | null;
      maxTextLength?: number;
    },
  ) {
    this.backend = backend.name;
  }

  private alive(): void {
    if (this.disposed) throw new SegmentationError("disposed", "the model was disposed");
  }

  private run(frames: RgbImage[], caption: string, options: SegmentOptions, window: number) {
    return this.lock.run(async () => {
      this.alive();
      options.signal?.throwIfAborted();
      const { defaults } = this;
      return await segmentClip(this.net, frames, caption, {
        tokenizer: this.tokenizer,
        shortSide: options.inputSize === undefined ? defaults.inputSize : options.inputSize,
        windowFrames: window,
        testTimeAugment: options.testTimeAugment ?? defaults.testTimeAugment,
        clipFrames: options.clipFrames ?? defaults.clipFrames,
        maskCrf: options.maskCrf ?? defaults.maskCrf,
        relinkSlots: options.relinkSlots ?? defaults.relinkSlots,
        threshold: options.threshold ?? 0.5,
        ...(defaults.maxTextLength ? { maxLength: defaults.maxTextLength } : {}),
      });
    });
  }

  async segment(
    video: VideoInput,
    sentence: string,
    options: SegmentOptions = {},
  ): Promise<SegmentationResult> {
    this.alive();
    const caption = checkSentence(sentence);
    checkOptions(options);
    options.signal?.throwIfAborted();
    const window = options.windowSize ?? this.defaults.windowSize;
    const opened = await openVideo(video, {
      chunkFrames: 16,
      maxFrames: options.maxFrames,
      fps: options.fps,
    });
    const frames: RgbImage[] = [];
    for await (const chunk of opened.chunks) {
      options.signal?.throwIfAborted();
      frames.push(...chunk.frames);
    }
    if (frames.length === 0) throw new SegmentationError("invalid_video", "video: no frames");
    const out = await this.run(frames, caption, options, window);
    options.signal?.throwIfAborted();
    return {
      width: out.width,
      height: out.height,
      fps: opened.fps,
      masks: out.masks,
      scores: out.scores,
      boxes: out.boxes,
    };
  }

  async *segmentStream(
    video: VideoInput,
    sentence: string,
    options: SegmentOptions = {},
  ): AsyncGenerator<SegmentedWindow> {
    this.alive();
    const caption = checkSentence(sentence);
    checkOptions(options);
    options.signal?.throwIfAborted();
    const window = options.windowSize ?? this.defaults.windowSize;
    const opened = await openVideo(video, {
      chunkFrames: Math.min(window, 16),
      maxFrames: options.maxFrames,
      fps: options.fps,
    });
    let pending: RgbImage[] = [];
    let start = 0;
    const flush = async (frames: RgbImage[]): Promise<SegmentedWindow> => {
      const out = await this.run(frames, caption, options, window);
      const result: SegmentedWindow = {
        start,
        frames,
        width: out.width,
        height: out.height,
        fps: opened.fps,
        masks: out.masks,
        scores: out.scores,
        boxes: out.boxes,
      };
      start += frames.length;
      return result;
    };
    for await (const chunk of opened.chunks) {
      options.signal?.throwIfAborted();
      pending.push(...chunk.frames);
      while (pending.length >= window) {
        const frames = pending.slice(0, window);
        pending = pending.slice(window);
        yield await flush(frames);
      }
    }
    if (pending.length > 0) yield await flush(pending);
    else if (start === 0) throw new SegmentationError("invalid_video", "video: no frames");
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.net.dispose();
  }
}

/**
 * Loads a model for inference.
 *
 * @example Segment a clip with random weights (the "tiny" test configuration)
 * ```ts
 * import { loadModel } from "../../mod.ts";
 * const model = await loadModel({ config: { base: "tiny", text: { vocabSize: 30522 } } });
 * const frames = Array.from({ length: 4 }, () => ({
 *   width: 64,
 *   height: 48,
 *   data: new Uint8Array(64 * 48 * 3),
 * }));
 * const result = await model.segment(frames, "a red square", { inputSize: null });
 * console.log(result.masks.length, result.scores[0], result.boxes[0]);
 * model.dispose();
 * ```
 */
export async function loadModel(options: LoadModelOptions): Promise<SegmentationModel> {
  if (!options || typeof options !== "object") {
    throw new SegmentationError("invalid_input", "loadModel needs an options object");
  }
  const { checkpoint, seed = 0 } = options;
  if (checkpoint !== undefined) {
    try {
      await Deno.stat(checkpoint);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new SegmentationError("checkpoint_not_found", `checkpoint not found: ${checkpoint}`);
      }
      throw new SegmentationError(
        "invalid_checkpoint",
        `checkpoint ${checkpoint}: ${firstLine(error)}`,
      );
    }
  }
  const setup = await resolveSetup(options.config, checkpoint);
  const { config } = setup;
  const inputSize = options.inputSize === undefined ? (setup.inputSize ?? 360) : options.inputSize;
  if (inputSize !== null && !(Number.isInteger(inputSize) && inputSize >= 16)) {
    throw new SegmentationError("invalid_input", `inputSize must be an integer >= 16 or null`);
  }
  const backend = await openBackend(options.backend ?? "cpu");
  let tokenizer: BertTokenizer;
  try {
    tokenizer = await BertTokenizer.load(options.tokenizer ?? {});
  } catch (error) {
    throw new SegmentationError("invalid_config", `tokenizer: ${firstLine(error)}`, {
      cause: error,
    });
  }
  if (tokenizer.vocabSize > config.text.vocabSize) {
    throw new SegmentationError(
      "invalid_config",
      `the tokenizer has ${tokenizer.vocabSize} tokens but the config's text encoder only ` +
        `${config.text.vocabSize} (set text.vocabSize to ${tokenizer.vocabSize})`,
    );
  }
  const previous = useBackend(backend);
  let net: DMFormer;
  try {
    manualSeed(seed);
    net = new DMFormer(config);
  } finally {
    useBackend(previous);
  }
  if (checkpoint !== undefined) {
    try {
      await loadWeightsInto(net, checkpoint, { strict: true });
    } catch (error) {
      net.dispose();
      throw new SegmentationError(
        "invalid_checkpoint",
        `checkpoint ${checkpoint}: ${firstLine(error)}`,
        { cause: error },
      );
    }
  }
  net.eval();
  net.requiresGrad(false);
  return new Model(net, tokenizer, Object.freeze(config), backend, checkpoint ?? null, {
    inputSize,
    windowSize: setup.windowSize ?? DEFAULT_WINDOW,
    testTimeAugment: setup.testTimeAugment ?? [],
    clipFrames: setup.clipFrames ?? 0,
    maskCrf: setup.maskCrf ?? null,
    relinkSlots: setup.relinkSlots ?? null,
    maxTextLength: setup.maxTextLength,
  });
}
