import { type Backend, registerBackend } from "../backend.ts";
import {
  type DType,
  releaseHostBuffer,
  type TypedArray,
  typedArrayFor,
} from "../../tensor/dtype.ts";
import { elementwiseKernels } from "./elementwise.ts";
import { reduceKernels } from "./reduce.ts";
import { matmul } from "./matmul.ts";
import { indexKernels } from "./index.ts";
import { convKernels } from "./conv.ts";
import { resampleKernels } from "./resample.ts";
import { creationKernels } from "./creation.ts";
import { msdaKernels } from "./msda.ts";
import { normKernels } from "./norm.ts";
import { windowAttentionKernels } from "./window_attention.ts";

/** The reference backend: plain TypeScript over typed arrays in host memory. */
export const cpuBackend: Backend = {
  name: "cpu",
  dtypes: ["f32", "f64", "i32", "u8", "bool"],
  kernels: {
    ...elementwiseKernels,
    ...reduceKernels,
    matmul,
    ...indexKernels,
    ...convKernels,
    ...resampleKernels,
    ...creationKernels,
    ...msdaKernels,
    ...normKernels,
    ...windowAttentionKernels,
  },
  alloc: (dtype: DType, size: number) => typedArrayFor(dtype, size),
  upload: (data: TypedArray, dtype: DType) => {
    const out = typedArrayFor(dtype, data.length);
    out.set(data);
    return out;
  },
  download: (buf: unknown) => Promise.resolve((buf as TypedArray).slice()),
  downloadSync: (buf: unknown) => (buf as TypedArray).slice(),
  free: (buf: unknown) => releaseHostBuffer(buf as TypedArray),
  sync: () => Promise.resolve(),
};

registerBackend(cpuBackend);
