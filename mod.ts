/**
 * dmformer-deno: tensors, autograd and backends (cpu, webgpu, native, cuda) in TypeScript,
 * and a re-implementation of DMFormer for referring video object segmentation.
 *
 * @example Tensors and autograd
 * ```ts
 * import { tensor } from "./mod.ts";
 * const x = tensor([[1, 2], [3, 4]]).requireGrad();
 * const y = x.mul(x).sum();
 * y.backward();
 * console.log(x.grad!.toString()); // 2 * x
 * ```
 *
 * @module
 */
export * from "./src/ops/mod.ts";
export { Tensor } from "./src/tensor/tensor.ts";
export type { DType, TypedArray } from "./src/tensor/dtype.ts";
export { broadcastShapes, type Shape, ShapeError, sizeOf } from "./src/tensor/shape.ts";
export { isGradEnabled, noGrad } from "./src/tensor/autograd.ts";
export {
  formatProfile,
  type KernelProfileRow,
  startProfile,
  stopProfile,
} from "./src/ops/profile.ts";
export {
  freeAfter,
  freeInput,
  keep,
  liveTensorCount,
  tidy,
  tidyAsync,
} from "./src/tensor/memory.ts";
export { Generator, manualSeed } from "./src/tensor/random.ts";
export {
  type Backend,
  getBackend,
  initBackend,
  knownBackends,
  registerBackend,
  registerBackendFactory,
  setBackend,
} from "./src/backend/backend.ts";
export { selectBackendByName } from "./src/backend/select_name.ts";
export * as nn from "./src/nn/mod.ts";
export * as optim from "./src/optim/mod.ts";
export { DMFormer, type DMFormerOutput } from "./src/models/dmformer/model.ts";
export {
  type DMFormerConfig,
  loadConfigFile,
  NAMED_CONFIGS,
  resolveConfig,
} from "./src/models/dmformer/config.ts";
export { SetCriterion } from "./src/models/dmformer/criterion.ts";
export {
  encodeSafetensors,
  loadSafetensors,
  readSafetensors,
  SafetensorsFile,
  saveSafetensors,
} from "./src/io/safetensors.ts";
export { extractStateDict, loadPth, readPth } from "./src/io/pth.ts";
export { BertTokenizer, cleanCaption, nounChunks, positiveMap } from "./src/text/mod.ts";
/**
 * Library API: load a model once, then segment the object a sentence refers to in every
 * frame of a video (a file path, a frame folder, encoded bytes or RGB frames).
 *
 * @example Segment, stream windows of a long video, tell errors apart
 * ```ts
 * import { loadModel, SegmentationError } from "./mod.ts";
 * // the tiny test configuration with random weights; real use: { config: "swin-t", checkpoint }
 * const model = await loadModel({ config: { base: "tiny", text: { vocabSize: 30522 } } });
 * const frames = Array.from({ length: 4 }, () => ({
 *   width: 64,
 *   height: 48,
 *   data: new Uint8Array(64 * 48 * 3),
 * }));
 * const { masks, scores, boxes } = await model.segment(frames, "the red square", {
 *   threshold: 0.5,
 *   signal: AbortSignal.timeout(60_000),
 * });
 * console.log(masks[0].length === 64 * 48, scores[0], boxes[0]);
 * for await (const window of model.segmentStream(frames, "the red square", { windowSize: 2 })) {
 *   console.log(window.start, window.masks.length);
 * }
 * try {
 *   await model.segment(frames, " ");
 * } catch (error) {
 *   if (error instanceof SegmentationError) console.log(error.code); // "empty_sentence"
 * }
 * model.dispose();
 * ```
 */
export {
  BACKEND_NAMES,
  type BackendName,
  type Box,
  type ConfigOverrides,
  loadModel,
  type LoadModelOptions,
  type MaskCrfSettings,
  type RelinkSettings,
  type RgbImage,
  SegmentationError,
  type SegmentationErrorCode,
  type SegmentationModel,
  type SegmentationResult,
  type SegmentedWindow,
  type SegmentOptions,
  type VideoInput,
} from "./src/api/mod.ts";
