import { readPaletteMask } from "../media/png.ts";
import type { RgbImage } from "../media/frame.ts";
import { clampBoxes, maskBoxXyxy, xyxyToCxcywhNormalised } from "./boxes.ts";
import { cleanCaption } from "./caption.ts";
import { sampleClipIndices } from "./clip_sampling.ts";
import { readFrame } from "./frame_io.ts";
import { Rng } from "./rng.ts";
import type { SubjectLabeler } from "./subject_labels.ts";
import type { ClipSample, Dataset, VideoExpression } from "./types.ts";

/** Where a video dataset keeps its frames and instance-id annotations. */
export interface VideoLayout {
  /** Resolves the image file of a frame (may probe .jpg / .png). */
  framePath(video: string, frame: string): Promise<string>;
  annotationPath(video: string, frame: string): string;
}

export interface VideoClipOptions {
  /** Frames per training clip (the reference's num_frames, 5). */
  numFrames?: number;
  /** Keys the default per-sample random stream. */
  seed?: number;
  labeler?: SubjectLabeler;
}

interface ClipMeta {
  expression: VideoExpression;
  /** Sorted frame names (the reference sorts them for training). */
  frames: string[];
  start: number;
}

/**
 * Training samples of a referring video dataset: one per (video, expression, start index
 * 0, t, 2t, ...), with the reference's frame sampling and per-frame binary targets.
 */
export class VideoClipDataset implements Dataset {
  readonly numFrames: number;
  readonly seed: number;
  private readonly metas: ClipMeta[] = [];

  constructor(
    readonly name: string,
    readonly expressions: VideoExpression[],
    private readonly layout: VideoLayout,
    private readonly options: VideoClipOptions = {},
  ) {
    this.numFrames = options.numFrames ?? 5;
    this.seed = options.seed ?? 0;
    if (!Number.isInteger(this.numFrames) || this.numFrames < 1) {
      throw new Error(`${name}: numFrames must be a positive integer, got ${this.numFrames}`);
    }
    for (const expression of expressions) {
      if (expression.objId === undefined) {
        throw new Error(`${name}: ${expression.video}/${expression.expId} has no obj_id`);
      }
      const frames = [...expression.frames].sort();
      for (let start = 0; start < frames.length; start += this.numFrames) {
        this.metas.push({ expression, frames, start });
      }
    }
  }

  get length(): number {
    return this.metas.length;
  }

  /** The (video, expression, start index) of sample i. */
  meta(index: number): { video: string; expId: string; start: number } {
    const m = this.at(index);
    return { video: m.expression.video, expId: m.expression.expId, start: m.start };
  }

  private at(index: number): ClipMeta {
    const m = this.metas[index];
    if (!m) throw new Error(`${this.name}: sample ${index} out of range [0, ${this.length})`);
    return m;
  }

  async get(index: number, rng?: Rng): Promise<ClipSample> {
    const m = this.at(index);
    const stream = rng ?? new Rng(this.seed, this.name, index);
    const indices = sampleClipIndices(m.start, m.frames.length, this.numFrames, stream);
    const { video, expId } = m.expression;
    const objId = m.expression.objId!;
    const frameIds = indices.map((i) => m.frames[i]);
    const frames: RgbImage[] = [];
    const masks: Uint8Array[] = [];
    const t = indices.length;
    const boxesXyxy = new Float32Array(t * 4);
    const valid = new Uint8Array(t);
    for (let f = 0; f < t; f++) {
      const frame = await readFrame(await this.layout.framePath(video, frameIds[f]));
      const annPath = this.layout.annotationPath(video, frameIds[f]);
      const ann = await readPaletteMask(annPath);
      if (ann.width !== frame.width || ann.height !== frame.height) {
        throw new Error(
          `${this.name}: ${annPath} is ${ann.width}x${ann.height} but its frame is ` +
            `${frame.width}x${frame.height}`,
        );
      }
      const mask = new Uint8Array(ann.indices.length);
      for (let p = 0; p < mask.length; p++) mask[p] = ann.indices[p] === objId ? 1 : 0;
      const box = maskBoxXyxy(mask, ann.width, ann.height);
      if (box) {
        boxesXyxy.set(box, f * 4);
        valid[f] = 1;
      }
      frames.push(frame);
      masks.push(mask);
    }
    const { width, height } = frames[0];
    if (frames.some((f) => f.width !== width || f.height !== height)) {
      throw new Error(`${this.name}: frames of ${video} differ in size`);
    }
    clampBoxes(boxesXyxy, width, height);
    return {
      frames,
      caption: cleanCaption(m.expression.caption),
      targets: {
        masks,
        boxesXyxy,
        boxes: xyxyToCxcywhNormalised(boxesXyxy, width, height),
        valid,
        labels: new Int32Array(t),
        size: [height, width],
        origSize: [height, width],
      },
      video,
      expId,
      frameIds,
      frameIndices: indices,
      objId,
      category: m.expression.category,
      subject: this.options.labeler?.label(video, expId),
    };
  }
}
