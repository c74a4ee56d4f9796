/**
 * Opens libdmf with Deno.dlopen. Typed arrays go to C as "buffer" parameters (zero-copy);
 * shapes and strides travel in small BigInt64Array "meta" buffers.
 */
import { buildNative, type BuildOptions, NativeBuildError } from "./build.ts";
import { SHAPE_SYMBOLS } from "./ffi_shape.ts";

const SYMBOLS = {
  dmf_init: { parameters: [], result: "i32" },
  dmf_set_isa: { parameters: ["i32"], result: "i32" },
  dmf_best_isa: { parameters: [], result: "i32" },
  dmf_set_threads: { parameters: ["i32"], result: "i32" },
  dmf_get_threads: { parameters: [], result: "i32" },
  dmf_matmul: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "void" },
  dmf_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i64",
      "i64",
      "i64",
      "buffer",
      "i64",
      "buffer",
      "i64",
      "buffer",
      "i64",
      "i32",
    ],
    result: "void",
  },
  dmf_conv2d: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "void" },
  dmf_conv2d_input_grad: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "void" },
  dmf_conv2d_weight_grad: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "void" },
  dmf_binary: { parameters: ["i32", "buffer", "buffer", "buffer", "buffer"], result: "void" },
  dmf_unary: { parameters: ["i32", "buffer", "buffer", "i64"], result: "void" },
  dmf_reduce: { parameters: ["i32", "buffer", "buffer", "i64", "i64", "i64"], result: "void" },
  dmf_softmax: { parameters: ["i32", "buffer", "buffer", "i64", "i64"], result: "void" },
  dmf_strided_copy: { parameters: ["buffer", "buffer", "i64", "buffer"], result: "void" },
  dmf_norm_forward: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer", "buffer", "f64"],
    result: "void",
  },
  dmf_norm_backward: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "void",
  },
  dmf_window_attention: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer", "f64"],
    result: "i32",
  },
  dmf_window_attention_backward: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "f64",
    ],
    result: "i32",
  },
  ...SHAPE_SYMBOLS,
} as const;

export type NativeSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** ISA numbers of the C ABI (dmf.h). */
export const ISA_NAMES = ["generic", "avx2", "avx512"] as const;
export type IsaName = (typeof ISA_NAMES)[number];

export interface NativeLibrary {
  path: string;
  symbols: NativeSymbols;
  /** The instruction set in use. */
  isa(): IsaName;
  /** The best instruction set the CPU supports. */
  bestIsa(): IsaName;
  /** Every instruction set the CPU supports, baseline first. */
  usableIsas(): IsaName[];
  /** Forces an instruction set (clamped to what the CPU supports); returns the one in use. */
  setIsa(isa: IsaName | "best"): IsaName;
  threads(): number;
  /** Sets the number of threads (<= 0: $DMF_NUM_THREADS or the number of CPUs). */
  setThreads(n: number): number;
}

let loading: Promise<NativeLibrary> | undefined;

/** Builds (first time) and opens the native library; shared by every caller. */
export function loadNativeLibrary(opts: BuildOptions = {}): Promise<NativeLibrary> {
  loading ??= open(opts).catch((e) => {
    loading = undefined;
    throw e;
  });
  return loading;
}

async function open(opts: BuildOptions): Promise<NativeLibrary> {
  if (typeof Deno?.dlopen !== "function") {
    throw new NativeBuildError("native backend: Deno.dlopen is not available in this runtime");
  }
  const { path } = await buildNative(opts);
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(path, SYMBOLS);
  } catch (e) {
    const why = e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied
      ? " (run deno with --allow-ffi)"
      : "";
    throw new NativeBuildError(`native backend: cannot open ${path}${why}: ${e}`);
  }
  const s = lib.symbols;
  let current = s.dmf_init();
  return {
    path,
    symbols: s,
    isa: () => ISA_NAMES[current],
    bestIsa: () => ISA_NAMES[s.dmf_best_isa()],
    usableIsas: () => ISA_NAMES.slice(0, s.dmf_best_isa() + 1),
    setIsa: (isa) => {
      current = s.dmf_set_isa(isa === "best" ? -1 : ISA_NAMES.indexOf(isa));
      return ISA_NAMES[current];
    },
    threads: () => s.dmf_get_threads(),
    // No close(): the pool's threads run code of the library until the process exits.
    setThreads: (n) => s.dmf_set_threads(n),
  };
}
