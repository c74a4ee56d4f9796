export * from "./types.ts";
export { hashKey, Rng } from "./rng.ts";
export { type SamplerOptions, SeededSampler } from "./sampler.ts";
export { cleanCaption, swapLeftRight } from "./caption.ts";
export { clampBoxes, maskBoxXyxy, xyxyToCxcywhNormalised } from "./boxes.ts";
export { sampleClipIndices } from "./clip_sampling.ts";
export { VideoClipDataset, type VideoClipOptions, type VideoLayout } from "./video_clips.ts";
export * from "./ytvos.ts";
export * from "./davis.ts";
export * from "./coco_rle.ts";
export { openRefCoco, RefCocoDataset, type RefCocoOptions } from "./refcoco.ts";
export { ConcatDataset } from "./concat.ts";
export * from "./resize.ts";
export { photometricDistort } from "./photometric.ts";
export * from "./transforms.ts";
export { type ClipBatch, collateClips } from "./collate.ts";
export { AugmentedDataset, type AugmentedDatasetOptions } from "./augmented_dataset.ts";
export * from "./subject_labels.ts";
export {
  generateRefShapesClip,
  type RefShapesClip,
  type RefShapesExpression,
  type RefShapesOptions,
} from "./ref_shapes.ts";
export type { ExpressionSpec, ShapeObject } from "./ref_shapes_grammar.ts";
export {
  writeRefShapesDataset,
  type WriteRefShapesOptions,
  type WriteRefShapesSummary,
} from "./ref_shapes_writer.ts";
