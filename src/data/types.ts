import type { RgbImage } from "../media/frame.ts";
import type { Rng } from "./rng.ts";
import type { SubjectLabel } from "./subject_labels.ts";

export type { RgbImage };

/** Per-frame targets of one clip (frame order = `ClipSample.frameIds`). */
export interface ClipTargets {
  /** One h*w mask per frame, 1 = referred object. */
  masks: Uint8Array[];
  /** t*4 normalised (cx, cy, w, h); zeros for frames without the object. */
  boxes: Float32Array;
  /**
   * t*4 pixel (x_min, y_min, x_max, y_max). For video datasets these are the reference's tight
   * box with inclusive max indices (a one-pixel object has zero width); RefCOCO uses the COCO bbox.
   */
  boxesXyxy: Float32Array;
  /** 1 where the object is present (non-empty mask / positive box). */
  valid: Uint8Array;
  /** Class index per frame; always 0 (binary mode). */
  labels: Int32Array;
  /** [h, w] of the frames as they are now. */
  size: [number, number];
  /** [h, w] of the frames as read from disk. */
  origSize: [number, number];
}

export interface ClipSample {
  frames: RgbImage[];
  /** Cleaned caption: lower case, whitespace runs collapsed. */
  caption: string;
  targets: ClipTargets;
  video: string;
  expId: string;
  /** Frame names (video datasets) or image ids repeated (RefCOCO). */
  frameIds: string[];
  /** Indices of the frames in the video's sorted frame list. */
  frameIndices: number[];
  objId: number;
  /** Dataset category name of the object (unused in binary mode). */
  category?: string;
  /** Which subject span training should supervise, and where it came from. */
  subject?: SubjectLabel;
}

export interface Dataset {
  readonly length: number;
  /** Sample i; `rng` drives any random choice (frame sampling). Defaults to a stream keyed by i. */
  get(index: number, rng?: Rng): Promise<ClipSample>;
}

/** One referring expression of a video (the unit of inference and evaluation). */
export interface VideoExpression {
  video: string;
  expId: string;
  caption: string;
  /** Object id in the annotation PNGs; absent for splits without annotations (YTVOS test). */
  objId?: number;
  /** Frame names in video order. */
  frames: string[];
  category?: string;
}

/** The meta_expressions.json shape (Ref-YouTube-VOS; Ref-DAVIS readers produce the same). */
export interface MetaExpressions {
  videos: Record<
    string,
    { frames: string[]; expressions: Record<string, { exp: string; obj_id?: string | number }> }
  >;
}
