/**
 * The training / inference pipeline above the model: batches, training steps and loop,
 * checkpoints, segmentation with the reference's post-processing, benchmark trees, evaluation.
 *
 * @example Segment a video for one sentence
 * ```ts
 * import { loadModelForInference, readVideoFrames, segmentClip } from "./src/pipeline/mod.ts";
 * import { getBackend } from "./mod.ts";
 * const { model, tokenizer, setup } = await loadModelForInference(
 *   "demo/weights.safetensors", "demo/config.json", getBackend("cpu"));
 * const { frames } = await readVideoFrames("demo/clips/valid_0015.mp4");
 * const seg = await segmentClip(model, frames, "the big square", {
 *   tokenizer, shortSide: setup.inference.shortSide });
 * console.log(seg.query, seg.scores, seg.masks.length);
 * ```
 *
 * @module
 */
export * from "./batch.ts";
export * from "./checkpoint.ts";
export * from "./train_config.ts";
export * from "./train.ts";
export * from "./segment.ts";
export * from "./mask_crf.ts";
export * from "./infer.ts";
export * from "./evaluate.ts";
export * from "./query_report.ts";
export { formatDuration, Progress } from "./progress.ts";
