/**
 * The library API of dmformer-deno: load a DMFormer once, then segment the object a sentence
 * refers to in every frame of a video.
 *
 * @example Segment a video file, then write the masks as palette PNGs
 * ```ts ignore
 * import { loadModel } from "dmformer-deno";
 * const model = await loadModel({ config: "swin-t", checkpoint: "dmformer_swin_t.safetensors" });
 * const result = await model.segment("dog.mp4", "a dog jumping over the fence", {
 *   signal: AbortSignal.timeout(60_000),
 * });
 * console.log(result.width, result.height, result.scores.length);
 * model.dispose();
 * ```
 *
 * @module
 */
export {
  BACKEND_NAMES,
  type BackendName,
  type Box,
  type ConfigOverrides,
  loadModel,
  type LoadModelOptions,
  type SegmentationModel,
  type SegmentationResult,
  type SegmentedWindow,
  type SegmentOptions,
} from "./model.ts";
export { SegmentationError, type SegmentationErrorCode } from "./errors.ts";
export type { VideoInput } from "./video_source.ts";
export type { RgbImage } from "../media/frame.ts";
export type { MaskCrfSettings } from "../pipeline/mask_crf.ts";
export type { RelinkSettings } from "../pipeline/relink_slots.ts";
