/**
 * The WebGPU backend object: buffer management (pooled, 32 bits per element) plus the kernel
 * table built over one Runtime. See ./layout.ts for the data layout.
 */
import type { Backend, Kernel } from "../backend.ts";
import type { DType, TypedArray } from "../../tensor/dtype.ts";
import { acquireDevice, type GpuContext } from "./device.ts";
import { GPU_DTYPES, storageOf } from "./layout.ts";
import { type GpuBuffer, Runtime, type RuntimeStats } from "./runtime.ts";
import { loadShaders } from "./shaders.ts";
import { elementwiseKernels } from "./kernels/elementwise.ts";
import { creationKernels } from "./kernels/creation.ts";
import { shapeKernels } from "./kernels/shape.ts";
import { reduceKernels } from "./kernels/reduce.ts";
import { matmulKernel } from "./kernels/matmul.ts";
import { convKernels } from "./kernels/conv.ts";
import { msdaKernels, resampleKernels } from "./kernels/resample.ts";
import { indexKernels } from "./kernels/index.ts";
import { normKernels } from "./kernels/norm.ts";
import { windowAttentionKernels } from "./kernels/window_attention.ts";

export interface WebGpuBackend extends Backend {
  readonly runtime: Runtime;
  readonly context: GpuContext;
  stats(): RuntimeStats;
  /** Frees pooled (unused) device buffers. */
  trim(): void;
}

function toWords(data: TypedArray, dtype: DType): ArrayBufferView {
  switch (storageOf(dtype)) {
    case "f32":
      return data instanceof Float32Array ? data : Float32Array.from(data);
    case "i32":
      return data instanceof Int32Array ? data : Int32Array.from(data);
    default:
      return Uint32Array.from(data instanceof Uint8Array ? data : Uint8Array.from(data));
  }
}

function fromWords(buf: ArrayBuffer, dtype: DType): TypedArray {
  switch (storageOf(dtype)) {
    case "f32":
      return new Float32Array(buf);
    case "i32":
      return new Int32Array(buf);
    default:
      // only the low 8 bits of a u8/bool word are meaningful (Uint8Array.from wraps)
      return Uint8Array.from(new Uint32Array(buf));
  }
}

export async function createWebGpuBackend(): Promise<WebGpuBackend> {
  const context = await acquireDevice();
  await loadShaders();
  const rt = new Runtime(context);
  const limit = context.limits.maxStorageBufferBindingSize ?? 134217728;
  const kernels: Record<string, Kernel> = {
    ...elementwiseKernels(rt),
    ...creationKernels(rt),
    ...shapeKernels(rt),
    ...reduceKernels(rt),
    matmul: matmulKernel(rt),
    ...convKernels(rt),
    ...resampleKernels(rt),
    ...msdaKernels(rt),
    ...indexKernels(rt),
    ...normKernels(rt),
    ...windowAttentionKernels(rt),
  };
  const alloc = (dtype: DType, size: number): GpuBuffer => {
    storageOf(dtype);
    const bytes = size * 4;
    if (bytes > limit) {
      throw new Error(
        `webgpu: a ${dtype} tensor of ${size} elements (${bytes} bytes) exceeds the device's ` +
          `maxStorageBufferBindingSize of ${limit} bytes`,
      );
    }
    return rt.allocBuffer(bytes);
  };
  return {
    name: "webgpu",
    dtypes: GPU_DTYPES,
    kernels,
    runtime: rt,
    context,
    alloc,
    upload(data: TypedArray, dtype: DType) {
      const buf = alloc(dtype, data.length);
      rt.write(buf, toWords(data, dtype));
      return buf;
    },
    async download(buf: unknown, dtype: DType, size: number) {
      return fromWords(await rt.read(buf as GpuBuffer, size * 4), dtype);
    },
    free(buf: unknown) {
      rt.freeBuffer(buf as GpuBuffer);
    },
    sync: () => rt.sync(),
    stats: () => rt.stats(),
    trim: () => rt.trim(),
  };
}
