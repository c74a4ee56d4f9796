/**
 * The `cuda` backend object: device buffers (CudaBuffer, a device pointer as a bigint) from
 * the library's stream-ordered caching pool, uploads queued on the library's stream,
 * read-backs that wait on another thread (the JS thread keeps running), and the kernel table.
 *
 * dtypes: f32, i32 (4 bytes), u8 and bool (1 byte each, bool holding 0/1). No f64.
 * Buffers that become unreachable without dispose() are freed by a FinalizationRegistry
 * (freeing is stream-ordered, so queued kernels that still read them are unaffected).
 */
import type { Backend, Kernel } from "../backend.ts";
import { type DType, type TypedArray, typedArrayFor } from "../../tensor/dtype.ts";
import {
  check,
  CudaError,
  type CudaLib,
  lastError,
  loadLibrary,
  STATUS,
  wrapSymbols,
} from "./ffi.ts";
import { CudaBuffer, makeKernels, ptrOf } from "./kernels.ts";
import { bytesOf } from "./layout.ts";

export interface CudaDeviceInfo {
  name: string;
  computeCapability: [number, number];
  multiprocessors: number;
  totalMemory: number;
  driverVersion: number;
  runtimeVersion: number;
  emulation: boolean;
  cublas: boolean;
}

export interface CudaPoolStats {
  bytesInUse: number;
  peakBytesInUse: number;
  liveAllocations: number;
  totalAllocations: number;
}

export interface CudaBackend extends Backend {
  readonly info: CudaDeviceInfo;
  poolStats(): CudaPoolStats;
  /** Returns cached device memory and pinned staging buffers to the system. */
  trim(): void;
  /** Synchronise after every kernel, so asynchronous faults name their kernel (slow). */
  setSyncDebug(on: boolean): void;
  /** f32 matmul implementation: auto (measure per shape), own kernels, or cuBLAS. */
  setMatmulMode(mode: "auto" | "own" | "cublas"): void;
  /** 1/2: own 64/128 tiles, 3: cuBLAS (of the last f32 matmul), 0 none yet. */
  lastMatmulImpl(): number;
}

export interface CreateOptions {
  name?: string;
  emulate?: boolean;
  device?: number;
  libraryPath?: string;
}

function describeInit(status: number, msg: string): string {
  if (status === STATUS.NO_DRIVER) return `cuda: no driver (${msg})`;
  if (status === STATUS.NO_DEVICE) return `cuda: no device (${msg})`;
  return `cuda: initialisation failed: ${msg}`;
}

export async function createCudaBackend(opts: CreateOptions = {}): Promise<CudaBackend> {
  const dl = await loadLibrary({ emulate: opts.emulate, path: opts.libraryPath });
  const lib: CudaLib = wrapSymbols(dl.symbols);
  const status = lib.dmfc_init(opts.device ?? 0);
  if (status !== 0) {
    const msg = lastError(lib);
    dl.close();
    throw new CudaError(describeInit(status, msg), status);
  }
  const info = deviceInfo(lib);
  const kernels: Record<string, Kernel> = makeKernels(lib);

  const registry = new FinalizationRegistry<bigint>((ptr) => {
    lib.dmfc_free(ptr);
  });

  const alloc = (dtype: DType, size: number): CudaBuffer => {
    const bytes = size * bytesOf(dtype);
    if (bytes === 0) return new CudaBuffer(0n, 0);
    const ptr = lib.dmfc_alloc(bytes) as bigint;
    if (ptr === 0n) check(lib, STATUS.CUDA, "alloc");
    const buf = new CudaBuffer(ptr, bytes);
    registry.register(buf, ptr, buf);
    return buf;
  };

  const backend: CudaBackend = {
    name: opts.name ?? "cuda",
    dtypes: ["f32", "i32", "u8", "bool"],
    kernels,
    // H100, Swin-T stage-1 windows: composed 0.69 ms vs fused 2.10 ms (deno task bench)
    fusedPreference: { window_attention: false },
    info,
    alloc,
    upload(data: TypedArray, dtype: DType) {
      const host = matching(data, dtype);
      const buf = alloc(dtype, host.length);
      if (buf.bytes > 0) check(lib, lib.dmfc_upload(buf.ptr, host, buf.bytes), "upload");
      return buf;
    },
    async download(buf: unknown, dtype: DType, size: number) {
      const out = typedArrayFor(dtype, size);
      const bytes = size * bytesOf(dtype);
      if (bytes === 0) return out;
      const ticket = lib.dmfc_download_begin(ptrOf({ buf }), bytes) as bigint;
      if (ticket < 0n) check(lib, Number(-ticket), "download");
      await lib.dmfc_download_wait(ticket);
      check(lib, lib.dmfc_download_end(ticket, out, bytes), "download");
      return out;
    },
    free(buf: unknown) {
      const b = buf as CudaBuffer;
      if (!(b instanceof CudaBuffer) || b.ptr === 0n) return;
      registry.unregister(b);
      const ptr = b.ptr;
      b.ptr = 0n;
      check(lib, lib.dmfc_free(ptr), "free");
    },
    async sync() {
      check(lib, await lib.dmfc_sync(), "sync");
    },
    poolStats() {
      const s = new BigInt64Array(4);
      check(lib, lib.dmfc_pool_stats(s), "pool_stats");
      return {
        bytesInUse: Number(s[0]),
        peakBytesInUse: Number(s[1]),
        liveAllocations: Number(s[2]),
        totalAllocations: Number(s[3]),
      };
    },
    trim() {
      check(lib, lib.dmfc_pool_trim(), "pool_trim");
    },
    setSyncDebug(on: boolean) {
      lib.dmfc_set_sync_debug(on ? 1 : 0);
    },
    setMatmulMode(mode) {
      check(lib, lib.dmfc_matmul_mode(mode === "auto" ? 0 : mode === "own" ? 1 : 2), "matmul_mode");
    },
    lastMatmulImpl() {
      return lib.dmfc_matmul_last_impl();
    },
  };
  return backend;
}

function deviceInfo(lib: CudaLib): CudaDeviceInfo {
  const name = new Uint8Array(256);
  const v = new BigInt64Array(6);
  check(lib, lib.dmfc_device_info(name, name.length, v), "device_info");
  const end = name.indexOf(0);
  return {
    name: new TextDecoder().decode(name.subarray(0, end < 0 ? name.length : end)),
    computeCapability: [Number(v[0]), Number(v[1])],
    multiprocessors: Number(v[2]),
    totalMemory: Number(v[3]),
    driverVersion: Number(v[4]),
    runtimeVersion: Number(v[5]),
    emulation: lib.dmfc_is_emulation() === 1,
    cublas: lib.dmfc_cublas_available() === 1,
  };
}

/** The host array in the layout of `dtype` (converted when the caller passed another type). */
function matching(data: TypedArray, dtype: DType): TypedArray {
  const want = dtype === "f32"
    ? data instanceof Float32Array
    : dtype === "i32"
    ? data instanceof Int32Array
    : data instanceof Uint8Array;
  if (want) return data;
  const out = typedArrayFor(dtype, data.length);
  out.set(data);
  return out;
}
