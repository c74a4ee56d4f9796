import "../backend/cpu/mod.ts";
import "./methods.ts";

export * from "./creation.ts";
export * from "./elementwise.ts";
export * from "./reduce.ts";
export * from "./shape_ops.ts";
export * from "./matmul.ts";
export * from "./indexing.ts";
export * from "./conv.ts";
export * from "./norm.ts";
export * from "./window_attention.ts";
export * from "./resample.ts";
export * from "./deform_attn.ts";
export * from "./random.ts";
export { apply, apply1 } from "./dispatch.ts";
export { getOp, opCatalog, type OpSpec, requiredKernels } from "./registry.ts";
export * from "./loss.ts";
