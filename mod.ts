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
export { keep, liveTensorCount, tidy } from "./src/tensor/memory.ts";
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
  saveSafetensors,
  SafetensorsFile,
} from "./src/io/safetensors.ts";
export { extractStateDict, loadPth, readPth } from "./src/io/pth.ts";
export { BertTokenizer, cleanCaption, nounChunks, positiveMap } from "./src/text/mod.ts";
