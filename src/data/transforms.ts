import type { RgbImage } from "../media/frame.ts";
import { xyxyToCxcywhNormalised } from "./boxes.ts";
import { swapLeftRight } from "./caption.ts";
import { photometricDistort } from "./photometric.ts";
import { resizeBilinear, resizeMaskNearest, shortSideSize } from "./resize.ts";
import type { Rng } from "./rng.ts";
import type { ClipSample, ClipTargets } from "./types.ts";

/**
 * Training augmentation of the reference (section 14.3), in order: horizontal flip with
 * left/right caption swap; photometric distortion per frame; then with p 0.5 a random resize
 * (short side from `scales`, long side capped), else resize to {400, 500, 600}, random crop
 * (each side uniform in [cropMin, min(side, cropMax)]) and the capped resize; validity check;
 * ImageNet normalisation to CHW and (cx, cy, w, h) boxes normalised by the final size.
 */
export interface AugmentConfig {
  flipProb: number;
  photometric: boolean;
  /** Probability of the plain resize branch (else the crop branch). */
  resizeBranchProb: number;
  scales: number[];
  maxSize?: number;
  cropPreScales: number[];
  cropMin: number;
  cropMax: number;
  cropFinalScales: number[];
  cropFinalMaxSize?: number;
}

const YTVOS_SCALES = [288, 320, 352, 392, 416, 448, 480, 512];

export const YTVOS_TRAIN_AUGMENT: AugmentConfig = {
  flipProb: 0.5,
  photometric: true,
  resizeBranchProb: 0.5,
  scales: YTVOS_SCALES,
  maxSize: 640,
  cropPreScales: [400, 500, 600],
  cropMin: 384,
  cropMax: 600,
  cropFinalScales: YTVOS_SCALES,
  cropFinalMaxSize: 640,
};

/** Pretraining (section 14.4): no photometric distortion, larger first-branch scales. */
export const REFCOCO_TRAIN_AUGMENT: AugmentConfig = {
  flipProb: 0.5,
  photometric: false,
  resizeBranchProb: 0.5,
  scales: [480, 512, 544, 576, 608, 640, 672, 704, 736, 768],
  maxSize: 800,
  cropPreScales: [400, 500, 600],
  cropMin: 384,
  cropMax: 600,
  cropFinalScales: [296, 328, 360, 392, 416, 448, 480, 512],
  cropFinalMaxSize: 640,
};

/** A config with every size multiplied by `factor` (for small synthetic frames). */
export function scaleAugment(config: AugmentConfig, factor: number): AugmentConfig {
  const s = (v: number) => Math.max(1, Math.round(v * factor));
  return {
    ...config,
    scales: config.scales.map(s),
    maxSize: config.maxSize === undefined ? undefined : s(config.maxSize),
    cropPreScales: config.cropPreScales.map(s),
    cropMin: s(config.cropMin),
    cropMax: s(config.cropMax),
    cropFinalScales: config.cropFinalScales.map(s),
    cropFinalMaxSize: config.cropFinalMaxSize === undefined
      ? undefined
      : s(config.cropFinalMaxSize),
  };
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** A clip being transformed: uint8 frames, pixel xyxy boxes. */
export interface WorkingClip {
  frames: RgbImage[];
  masks: Uint8Array[];
  boxes: Float32Array;
  valid: Uint8Array;
  caption: string;
}

export interface TransformedClip {
  t: number;
  height: number;
  width: number;
  /** [t, 3, height, width] ImageNet-normalised. */
  frames: Float32Array;
  caption: string;
  targets: ClipTargets;
  video: string;
  expId: string;
  frameIds: string[];
  frameIndices: number[];
  objId: number;
  subject?: ClipSample["subject"];
  flipped: boolean;
  /** The booster copy: untouched frames resized and normalised, unflipped caption. */
  booster?: { frames: Float32Array; height: number; width: number; caption: string };
}

/**
 * A row-major image of `width` pixels per row and `channels` values per pixel, mirrored left to
 * right (a new array of the same type).
 */
export function mirrorRows<T extends Uint8Array | Float32Array>(
  src: T,
  width: number,
  channels = 1,
): T {
  const out = new (src.constructor as { new (n: number): T })(src.length);
  const row = width * channels;
  for (let start = 0; start < src.length; start += row) {
    for (let x = 0; x < width; x++) {
      const s = start + x * channels, d = start + (width - 1 - x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = src[s + c];
    }
  }
  return out;
}

export function hflipClip(clip: WorkingClip): WorkingClip {
  const { width: w } = clip.frames[0];
  const frames = clip.frames.map((img) => ({ ...img, data: mirrorRows(img.data, img.width, 3) }));
  const masks = clip.masks.map((m) => mirrorRows(m, w));
  const boxes = new Float32Array(clip.boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = w - clip.boxes[i + 2];
    boxes[i + 1] = clip.boxes[i + 1];
    boxes[i + 2] = w - clip.boxes[i];
    boxes[i + 3] = clip.boxes[i + 3];
  }
  return { ...clip, frames, masks, boxes, caption: swapLeftRight(clip.caption) };
}

/** Resizes frames (PIL bilinear), masks (nearest) and boxes to [height, width]. */
export function resizeClip(clip: WorkingClip, height: number, width: number): WorkingClip {
  const { width: w0, height: h0 } = clip.frames[0];
  if (w0 === width && h0 === height) return clip;
  const rx = width / w0, ry = height / h0;
  const boxes = clip.boxes.map((v, i) => v * (i % 2 === 0 ? rx : ry));
  return {
    ...clip,
    frames: clip.frames.map((f) => resizeBilinear(f, width, height)),
    masks: clip.masks.map((m) => resizeMaskNearest(m, w0, h0, width, height)),
    boxes,
  };
}

/** The reference's RandomResize: short side drawn from `sizes`, long side capped at maxSize. */
export function randomResize(
  clip: WorkingClip,
  sizes: number[],
  maxSize: number | undefined,
  rng: Rng,
): WorkingClip {
  const { width, height } = clip.frames[0];
  const [h, w] = shortSideSize(width, height, rng.choice(sizes), maxSize);
  return resizeClip(clip, h, w);
}

/** Crops region (top, left, height, width); boxes shifted and clamped as the reference does. */
export function cropClip(
  clip: WorkingClip,
  top: number,
  left: number,
  height: number,
  width: number,
): WorkingClip {
  const w0 = clip.frames[0].width;
  const frames = clip.frames.map((img) => {
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      const s = ((y + top) * w0 + left) * 3;
      data.set(img.data.subarray(s, s + width * 3), y * width * 3);
    }
    return { width, height, data };
  });
  const masks = clip.masks.map((m) => {
    const out = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      const s = (y + top) * w0 + left;
      out.set(m.subarray(s, s + width), y * width);
    }
    return out;
  });
  const boxes = clip.boxes.map((v, i) => {
    const shifted = v - (i % 2 === 0 ? left : top);
    return Math.max(Math.min(shifted, i % 2 === 0 ? width : height), 0);
  });
  return { ...clip, frames, masks, boxes };
}

/** The reference's RandomSizeCrop(min, max): crop sides uniform, position uniform. */
export function randomSizeCrop(
  clip: WorkingClip,
  minSize: number,
  maxSize: number,
  rng: Rng,
): WorkingClip {
  const { width, height } = clip.frames[0];
  if (width < minSize || height < minSize) {
    throw new Error(
      `random crop: ${width}x${height} frames are smaller than the minimum ${minSize}`,
    );
  }
  const w = rng.randint(minSize, Math.min(width, maxSize));
  const h = rng.randint(minSize, Math.min(height, maxSize));
  if (w === width && h === height) return cropClip(clip, 0, 0, h, w);
  const top = rng.randint(0, height - h);
  const left = rng.randint(0, width - w);
  return cropClip(clip, top, left, h, w);
}

/** Validity check: a frame stays valid only while its box has positive width and height. */
export function checkValid(clip: WorkingClip): WorkingClip {
  const valid = new Uint8Array(clip.valid.length);
  const boxes = clip.boxes.slice();
  for (let f = 0; f < valid.length; f++) {
    const b = f * 4;
    valid[f] = boxes[b + 2] > boxes[b] && boxes[b + 3] > boxes[b + 1] ? 1 : 0;
    if (!valid[f]) { for (let i = b; i < b + 4; i++) boxes[i] = Math.floor(boxes[i] / 1000); }
  }
  return { ...clip, boxes, valid };
}

/** [t, 3, h, w] float32: x / 255, minus mean, over std, per channel. */
export function normalizeFrames(frames: RgbImage[]): Float32Array {
  const { width: w, height: h } = frames[0];
  const plane = w * h;
  const out = new Float32Array(frames.length * 3 * plane);
  frames.forEach((img, f) => {
    for (let c = 0; c < 3; c++) {
      const base = (f * 3 + c) * plane;
      const mean = IMAGENET_MEAN[c], std = IMAGENET_STD[c];
      for (let p = 0; p < plane; p++) out[base + p] = (img.data[p * 3 + c] / 255 - mean) / std;
    }
  });
  return out;
}

function finish(
  sample: ClipSample,
  clip: WorkingClip,
  flipped: boolean,
): TransformedClip {
  const { width, height } = clip.frames[0];
  return {
    t: clip.frames.length,
    height,
    width,
    frames: normalizeFrames(clip.frames),
    caption: clip.caption,
    targets: {
      masks: clip.masks,
      boxesXyxy: clip.boxes,
      boxes: xyxyToCxcywhNormalised(clip.boxes, width, height),
      valid: clip.valid,
      labels: sample.targets.labels.slice(),
      size: [height, width],
      origSize: sample.targets.origSize,
    },
    video: sample.video,
    expId: sample.expId,
    frameIds: sample.frameIds,
    frameIndices: sample.frameIndices,
    objId: sample.objId,
    subject: sample.subject,
    flipped,
  };
}

function workingClip(sample: ClipSample): WorkingClip {
  const { frames, targets, caption } = sample;
  if (frames.length === 0) throw new Error(`transforms: ${sample.video} clip has no frames`);
  return {
    frames,
    masks: targets.masks,
    boxes: targets.boxesXyxy.slice(),
    valid: targets.valid.slice(),
    caption,
  };
}

export interface BoosterOptions {
  shortSide: number;
  maxSize: number;
}

/** Training transform of one clip; all randomness comes from `rng`. */
export function augmentClip(
  sample: ClipSample,
  rng: Rng,
  config: AugmentConfig = YTVOS_TRAIN_AUGMENT,
  booster?: BoosterOptions,
): TransformedClip {
  let clip = workingClip(sample);
  const flipped = rng.chance(config.flipProb);
  if (flipped) clip = hflipClip(clip);
  if (config.photometric) {
    clip = { ...clip, frames: clip.frames.map((f) => photometricDistort(f, rng)) };
  }
  if (rng.chance(config.resizeBranchProb)) {
    clip = randomResize(clip, config.scales, config.maxSize, rng);
  } else {
    clip = randomResize(clip, config.cropPreScales, undefined, rng);
    clip = randomSizeCrop(clip, config.cropMin, config.cropMax, rng);
    clip = randomResize(clip, config.cropFinalScales, config.cropFinalMaxSize, rng);
  }
  const out = finish(sample, checkValid(clip), flipped);
  if (booster) {
    const { width, height } = sample.frames[0];
    const [h, w] = shortSideSize(width, height, booster.shortSide, booster.maxSize);
    const frames = sample.frames.map((f) => resizeBilinear(f, w, h));
    out.booster = { frames: normalizeFrames(frames), height: h, width: w, caption: sample.caption };
  }
  return out;
}

/** Inference transform (section 13): short side to `shortSide`, no cap, normalised. */
export function evalTransform(sample: ClipSample, shortSide = 360): TransformedClip {
  const { width, height } = sample.frames[0];
  const [h, w] = shortSideSize(width, height, shortSide);
  return finish(sample, resizeClip(workingClip(sample), h, w), false);
}
