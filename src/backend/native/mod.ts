/**
 * The "native" backend: host memory like the cpu backend (buffers are the same typed arrays),
 * with hot kernels in C (native/*.c) called zero-copy through Deno.dlopen. Every kernel it
 * does not override, and every case an override does not handle (other dtypes, unusual
 * broadcasts), runs the TypeScript reference kernel.
 *
 * `await initBackend("native")` builds the library on first use (needs a C compiler and
 * --allow-run --allow-ffi --allow-read --allow-write --allow-env); without a compiler it
 * fails with a NativeBuildError and the other backends keep working.
 */
import { type Backend, type Kernel, registerBackendFactory } from "../backend.ts";
import {
  type DType,
  releaseHostBuffer,
  type TypedArray,
  typedArrayFor,
} from "../../tensor/dtype.ts";
import { cpuBackend } from "../cpu/mod.ts";
import { loadNativeLibrary, type NativeLibrary } from "./ffi.ts";
import { nativeKernels } from "./kernels.ts";
import { nativeNormKernels } from "./kernels_norm.ts";
import { indexKernels } from "./kernels_index.ts";
import { msdaKernels } from "./kernels_msda.ts";
import { resampleKernels } from "./kernels_resample.ts";
import { shapeKernels } from "./kernels_shape.ts";
import { windowAttentionKernels } from "./kernels_window_attention.ts";

export { buildNative, findCompiler, NativeBuildError } from "./build.ts";
export { type IsaName, loadNativeLibrary, type NativeLibrary } from "./ffi.ts";
export { NATIVE_BINARY, NATIVE_THRESHOLDS, NATIVE_UNARY } from "./kernels.ts";
export { NATIVE_CALLS } from "./util.ts";

/** The kernels the native backend implements in C, each falling back to the cpu kernel. */
function nativeOverrides(lib: NativeLibrary): Record<string, Kernel> {
  const cpu = cpuBackend.kernels;
  return {
    ...nativeKernels(lib.symbols, cpu),
    ...nativeNormKernels(lib.symbols, cpu),
    ...shapeKernels(lib.symbols, cpu),
    ...indexKernels(lib.symbols, cpu),
    ...resampleKernels(lib.symbols, cpu),
    ...msdaKernels(lib.symbols, cpu),
    ...windowAttentionKernels(lib.symbols, cpu),
  };
}

/** Names of the kernels the native backend implements in C (with TS fallbacks). */
export function nativeKernelNames(lib: NativeLibrary): string[] {
  return Object.keys(nativeOverrides(lib)).sort();
}

/** Statistics of the native backend's buffer pool. */
export interface PoolStats {
  pooledBytes: number;
  hits: number;
  misses: number;
}

/**
 * Reuses freed buffers of >= 64 KiB (same dtype and length): a fresh large typed array costs
 * page faults and the kernel's zeroing on first touch, a pooled one a memset. Buffers are
 * zero-filled on alloc either way (kernels may accumulate into their outputs). When a freed
 * buffer does not fit under the cap, the least recently pooled ones are given back to make room
 * (a forward pass frees the sizes its next layers allocate again).
 */
class BufferPool {
  readonly stats: PoolStats = { pooledBytes: 0, hits: 0, misses: 0 };
  #free = new Map<string, TypedArray[]>();
  /** Pooled buffers, oldest first, with their keys. */
  #order = new Map<TypedArray, string>();
  constructor(readonly capBytes: number) {}

  alloc(dtype: DType, size: number): TypedArray {
    const list = this.#free.get(`${dtype}:${size}`);
    const buf = list?.pop();
    if (buf) {
      this.#order.delete(buf);
      this.stats.hits++;
      this.stats.pooledBytes -= buf.byteLength;
      buf.fill(0);
      return buf;
    }
    this.stats.misses++;
    return typedArrayFor(dtype, size);
  }

  free(buf: unknown, dtype: DType, size: number): void {
    const b = buf as TypedArray;
    if (b.byteLength < 65536) return;
    if (b.byteLength > this.capBytes) return releaseHostBuffer(b);
    while (this.stats.pooledBytes + b.byteLength > this.capBytes) this.#evictOldest();
    const key = `${dtype}:${size}`;
    let list = this.#free.get(key);
    if (!list) this.#free.set(key, list = []);
    list.push(b);
    this.#order.set(b, key);
    this.stats.pooledBytes += b.byteLength;
  }

  #evictOldest(): void {
    const [old, key] = this.#order.entries().next().value!;
    this.#order.delete(old);
    const list = this.#free.get(key)!;
    list.splice(list.indexOf(old), 1);
    this.stats.pooledBytes -= old.byteLength;
    releaseHostBuffer(old);
  }

  clear(): void {
    for (const list of this.#free.values()) list.forEach(releaseHostBuffer);
    this.#free.clear();
    this.#order.clear();
    this.stats.pooledBytes = 0;
  }
}

function poolCapBytes(): number {
  let env: string | undefined;
  try {
    env = Deno.env.get("DMF_NATIVE_POOL_MB");
  } catch {
    env = undefined;
  }
  return (env !== undefined ? Number(env) : 512) * 2 ** 20;
}

export type NativeBackend = Backend & {
  lib: NativeLibrary;
  /** Buffer pool statistics; `clear()` drops the pooled buffers. */
  pool: { stats: PoolStats; clear(): void };
};

/**
 * Creates the native backend (building and loading the library if needed). The pool of
 * freed buffers holds up to $DMF_NATIVE_POOL_MB MiB (default 512; 0 disables it).
 */
export async function createNativeBackend(): Promise<NativeBackend> {
  const lib = await loadNativeLibrary();
  const kernels: Record<string, Kernel> = { ...cpuBackend.kernels, ...nativeOverrides(lib) };
  const pool = new BufferPool(poolCapBytes());
  return {
    name: "native",
    dtypes: cpuBackend.dtypes,
    kernels,
    alloc: (dtype: DType, size: number) => pool.alloc(dtype, size),
    upload: (data: TypedArray, dtype: DType) => {
      const out = pool.alloc(dtype, data.length);
      out.set(data);
      return out;
    },
    download: cpuBackend.download,
    downloadSync: cpuBackend.downloadSync,
    free: (buf: unknown, dtype: DType, size: number) => pool.free(buf, dtype, size),
    sync: cpuBackend.sync,
    lib,
    pool,
  };
}

registerBackendFactory("native", createNativeBackend);
