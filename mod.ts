/**
 * dmformer-deno: tensors, autograd and backends (cpu, webgpu, native, cuda) in TypeScript,
 * and a re-implementation of DMFormer for referring video object segmentation.
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
