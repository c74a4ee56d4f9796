/**
 * Loading libdmf_cuda.so with Deno.dlopen: the symbol table (mirrors cuda/dmf_cuda.h), the
 * driver check, and error reporting (a nonzero status becomes an Error naming the kernel and
 * carrying the library's message).
 */
import { builtLibrary } from "./build.ts";

const P = "u64"; // device pointer
const B = "buffer"; // host array, valid during the call
const I = "i32";
const L = "i64";
const D = "f64";

export const SYMBOLS = {
  dmfc_version: { parameters: [], result: I },
  dmfc_is_emulation: { parameters: [], result: I },
  dmfc_init: { parameters: [I], result: I },
  dmfc_last_error: { parameters: [B, I], result: I },
  dmfc_device_info: { parameters: [B, I, B], result: I },
  dmfc_alloc: { parameters: [L], result: P },
  dmfc_free: { parameters: [P], result: I },
  dmfc_upload: { parameters: [P, B, L], result: I },
  dmfc_download: { parameters: [P, B, L], result: I },
  dmfc_download_begin: { parameters: [P, L], result: L },
  dmfc_download_wait: { parameters: [L], result: I, nonblocking: true },
  dmfc_download_end: { parameters: [L, B, L], result: I },
  dmfc_sync: { parameters: [], result: I, nonblocking: true },
  dmfc_memset: { parameters: [P, I, L], result: I },
  dmfc_copy: { parameters: [P, P, L], result: I },
  dmfc_pool_stats: { parameters: [B], result: I },
  dmfc_pool_trim: { parameters: [], result: I },
  dmfc_set_sync_debug: { parameters: [I], result: I },

  dmfc_unary_count: { parameters: [], result: I },
  dmfc_binary_count: { parameters: [], result: I },
  dmfc_unary: { parameters: [I, I, I, P, P, L], result: I },
  dmfc_binary: { parameters: [I, I, I, I, B, B, B, P, P, P], result: I },
  dmfc_where: { parameters: [I, I, B, B, B, B, P, P, P, P], result: I },
  dmfc_cast: { parameters: [I, I, P, P, L], result: I },

  dmfc_strided_copy: { parameters: [I, I, B, B, L, P, P], result: I },
  dmfc_strided_scatter: { parameters: [I, I, B, B, L, P, P, L], result: I },
  dmfc_cat_part: { parameters: [I, L, L, L, L, P, P], result: I },
  dmfc_pad: { parameters: [I, I, B, B, B, I, D, P, P], result: I },

  dmfc_fill: { parameters: [I, D, P, L], result: I },
  dmfc_arange: { parameters: [I, D, D, P, L], result: I },
  dmfc_rand_uniform: { parameters: [I, "u32", "u32", P, L], result: I },

  dmfc_reduce: { parameters: [I, I, I, I, B, B, I, B, B, P, P], result: I },
  dmfc_argreduce: { parameters: [I, I, L, L, L, P, P], result: I },
  dmfc_cumsum: { parameters: [I, I, L, L, L, P, P], result: I },
  dmfc_softmax: { parameters: [I, L, L, L, P, P], result: I },

  dmfc_gather: { parameters: [I, I, B, B, I, L, P, P, P], result: I },
  dmfc_scatter_add: { parameters: [I, I, B, B, B, I, L, P, P, P, P, L], result: I },
  dmfc_index_select: { parameters: [I, L, L, L, L, P, P, P], result: I },
  dmfc_index_add: { parameters: [I, L, L, L, L, P, P, P, P], result: I },
  dmfc_sort: { parameters: [I, I, L, L, L, P, P, P], result: I },

  dmfc_conv2d: { parameters: [B, P, P, P], result: I },
  dmfc_conv2d_input_grad: { parameters: [B, P, P, P], result: I },
  dmfc_conv2d_weight_grad: { parameters: [B, P, P, P], result: I },
  dmfc_pool2d: { parameters: [I, B, P, P], result: I },
  dmfc_max_pool2d_backward: { parameters: [B, P, P, P], result: I },
  dmfc_avg_pool2d_backward: { parameters: [B, P, P], result: I },

  dmfc_resize_nearest: { parameters: [I, L, L, L, L, L, D, D, P, P], result: I },
  dmfc_resize_nearest_backward: { parameters: [L, L, L, L, L, D, D, P, P], result: I },
  dmfc_resize_bilinear: { parameters: [L, L, L, L, L, D, D, I, P, P], result: I },
  dmfc_resize_bilinear_backward: { parameters: [L, L, L, L, L, D, D, I, P, P], result: I },
  dmfc_grid_sample: { parameters: [L, L, L, L, L, L, P, P, P], result: I },
  dmfc_grid_sample_backward: { parameters: [L, L, L, L, L, L, P, P, P, P, P], result: I },

  dmfc_msda: { parameters: [B, B, P, P, P, P], result: I },
  dmfc_msda_backward: { parameters: [B, B, P, P, P, P, P, P, P], result: I },

  dmfc_norm_forward: { parameters: [B, D, P, P, P, P, P, P], result: I },
  dmfc_norm_backward: { parameters: [B, P, P, P, P, P, P, P, P], result: I },

  dmfc_window_attention: { parameters: [B, D, P, P, P, P, P], result: I },
  dmfc_window_attention_backward: { parameters: [B, D, P, P, P, P, P, P, P, P], result: I },

  dmfc_matmul: { parameters: [I, I, I, L, L, L, I, B, B, B, P, P, P], result: I },
  dmfc_matmul_mode: { parameters: [I], result: I },
  dmfc_cublas_available: { parameters: [], result: I },
  dmfc_matmul_last_impl: { parameters: [], result: I },
} as const;

type RawLib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
type Loosen<T> = { [K in keyof T]: T[K] extends bigint ? number | bigint : T[K] };

/** The library's functions; 64-bit integer arguments also accept plain numbers. */
export type CudaLib = {
  [K in keyof RawLib]: (...args: Loosen<Parameters<RawLib[K]>>) => ReturnType<RawLib[K]>;
};

/** Wraps the raw symbols so that number arguments of i64 / u64 parameters become bigints. */
export function wrapSymbols(raw: RawLib): CudaLib {
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(SYMBOLS)) {
    const fn = (raw as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
    const big = (def.parameters as readonly string[]).map((t) => t === "i64" || t === "u64");
    out[name] = big.some((b) => b)
      ? (...args: unknown[]) =>
        fn(...args.map((a, i) => (big[i] && typeof a === "number" ? BigInt(a) : a)))
      : fn;
  }
  return out as CudaLib;
}

/** Status codes of cuda/dmf_cuda.h. */
export const STATUS = {
  OK: 0,
  CUDA: 1,
  ARG: 2,
  NO_DEVICE: 3,
  NO_DRIVER: 4,
  INDEX: 5,
  NOT_INIT: 6,
} as const;

export class CudaError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
    this.name = "CudaError";
  }
}

const msgBuf = new Uint8Array(1024);

/** The library's message for its last failure. */
export function lastError(lib: CudaLib): string {
  const n = lib.dmfc_last_error(msgBuf, msgBuf.length);
  return new TextDecoder().decode(msgBuf.subarray(0, Math.min(n, msgBuf.length - 1)));
}

/** Throws "cuda: <what>: <message>" for a nonzero status. */
export function check(lib: CudaLib, status: number, what: string): void {
  if (status === 0) return;
  throw new CudaError(`cuda: ${what}: ${lastError(lib)}`, status);
}

export interface LoadOptions {
  /** Load the CPU emulation build instead of the GPU build. */
  emulate?: boolean;
  /** Explicit library path (default: $DMF_CUDA_LIB, else the build of the current sources). */
  path?: string;
}

/** Whether the NVIDIA driver library can be loaded (needed by the GPU build only). */
export function driverPresent(): boolean {
  try {
    Deno.dlopen("libcuda.so.1", {}).close();
    return true;
  } catch {
    return false;
  }
}

/** Opens the library; clear errors for a missing driver or a missing build. */
export async function loadLibrary(
  opts: LoadOptions = {},
): Promise<Deno.DynamicLibrary<typeof SYMBOLS>> {
  const emulate = !!opts.emulate;
  if (!emulate && !driverPresent()) {
    throw new CudaError("cuda: no driver (libcuda.so.1 not found)", STATUS.NO_DRIVER);
  }
  const path = opts.path ??
    (emulate ? Deno.env.get("DMF_CUDA_EMU_LIB") : Deno.env.get("DMF_CUDA_LIB")) ??
    await builtLibrary(emulate);
  if (!path) {
    throw new CudaError(
      emulate
        ? "cuda_emu: library not built for the current sources: run `deno task build:cuda --emulate`"
        : "cuda: library not built for the current sources: run `deno task build:cuda`",
      STATUS.NOT_INIT,
    );
  }
  try {
    return Deno.dlopen(path, SYMBOLS);
  } catch (e) {
    throw new CudaError(`cuda: cannot load ${path}: ${(e as Error).message}`, STATUS.NOT_INIT);
  }
}
