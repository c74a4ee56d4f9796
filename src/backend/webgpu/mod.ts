/**
 * WebGPU backend: importing this module registers the "webgpu" backend factory
 * (`await initBackend("webgpu")` or `setBackend("webgpu")` creates the device).
 *
 * Data layout on the device: f32 and i32 as themselves; u8 and bool as one u32 word per
 * element (only the low 8 bits count; upload/download convert). f64 is not supported.
 *
 * @module
 */
import { registerBackendFactory } from "../backend.ts";
import { createWebGpuBackend, type WebGpuBackend } from "./backend.ts";
import type { RuntimeStats } from "./runtime.ts";

let instance: Promise<WebGpuBackend> | null = null;
let ready: WebGpuBackend | null = null;

/** Creates (once) and returns the WebGPU backend. */
export function webgpuBackend(): Promise<WebGpuBackend> {
  instance ??= createWebGpuBackend().then(
    (b) => (ready = b),
    (e) => {
      instance = null;
      throw e;
    },
  );
  return instance;
}

registerBackendFactory("webgpu", webgpuBackend);

export type WebGpuStats = RuntimeStats;

/**
 * Device memory and work counters: `allocatedBytes` (held in GPU buffers), `pooledBytes`
 * (free in the pool, ready for reuse), `inUseBytes`, `created` buffers, pipelines,
 * dispatches and submits; `textureBytes` and friends for the pooled storage textures of the
 * CPU-adapter matmul. All zero before the backend is initialised.
 */
export function webgpuStats(): WebGpuStats {
  if (!ready) {
    return {
      allocatedBytes: 0,
      pooledBytes: 0,
      inUseBytes: 0,
      created: 0,
      pooledBuffers: 0,
      reused: 0,
      pipelines: 0,
      dispatches: 0,
      submits: 0,
      bindGroupsCached: 0,
      textureBytes: 0,
      pooledTextureBytes: 0,
      texturesCreated: 0,
      texturesReused: 0,
    };
  }
  return ready.stats();
}

export { hasAdapter, NO_ADAPTER_MESSAGE } from "./device.ts";
export type { WebGpuBackend } from "./backend.ts";
