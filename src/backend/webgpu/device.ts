/**
 * Adapter and device acquisition: asks for the adapter's full limits (big storage buffers,
 * large workgroups) and the optional features this backend can use when they are granted.
 */

/** Optional features requested when the adapter offers them. */
const OPTIONAL_FEATURES = ["shader-f16", "timestamp-query", "subgroups"] as const;

/** Limits this backend relies on; always requested at the adapter's maximum. */
const KEY_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
  "maxBindGroups",
  "maxDynamicUniformBuffersPerPipelineLayout",
];

export interface GpuContext {
  adapter: GPUAdapter;
  device: GPUDevice;
  /** The device's limits as plain numbers. */
  limits: Record<string, number>;
  features: Set<string>;
  /** Human-readable adapter description (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"). */
  description: string;
  /** True for software adapters (llvmpipe, SwiftShader, WARP). */
  isFallback: boolean;
}

export const NO_ADAPTER_MESSAGE =
  "webgpu: no adapter found (install mesa-vulkan-drivers or run with a GPU)";

/**
 * The Vulkan loader and Mesa print "XDG_RUNTIME_DIR is invalid or not set" warnings on
 * headless machines; pointing it at a private temp dir (removed at exit) silences them.
 */
function quietRuntimeDir(): void {
  try {
    if (!Deno.env.get("XDG_RUNTIME_DIR")) {
      const dir = Deno.makeTempDirSync({ prefix: "dmf-xdg-" });
      Deno.env.set("XDG_RUNTIME_DIR", dir);
      globalThis.addEventListener("unload", () => {
        try {
          Deno.removeSync(dir, { recursive: true });
        } catch { /* already gone */ }
      });
    }
  } catch {
    // no env/write permission: the warning is harmless
  }
}

function plainLimits(l: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  // GPUSupportedLimits exposes its values as prototype getters
  for (const k in l) {
    const v = (l as unknown as Record<string, unknown>)[k];
    if (typeof v === "number") out[k] = v;
  }
  return out;
}

/** Returns the adapter or null when WebGPU or an adapter is missing. */
export async function requestAdapter(): Promise<GPUAdapter | null> {
  quietRuntimeDir();
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return null;
  try {
    return await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return null;
  }
}

/** True when a WebGPU adapter exists (used by tests to skip cleanly). */
export async function hasAdapter(): Promise<boolean> {
  return (await requestAdapter()) !== null;
}

/** Acquires a device with the adapter's full limits and the optional features it grants. */
export async function acquireDevice(): Promise<GpuContext> {
  const adapter = await requestAdapter();
  if (!adapter) throw new Error(NO_ADAPTER_MESSAGE);
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const all = plainLimits(adapter.limits);
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits: all });
  } catch {
    // some implementations reject limits they list but do not know; keep the ones we use
    const key: Record<string, number> = {};
    for (const k of KEY_LIMITS) if (k in all) key[k] = all[k];
    device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits: key });
  }
  const info = adapter.info;
  return {
    adapter,
    device,
    limits: plainLimits(device.limits),
    features: new Set([...device.features]),
    description: info?.description || info?.device || info?.vendor || "unknown adapter",
    isFallback: Boolean((info as unknown as { isFallbackAdapter?: boolean })?.isFallbackAdapter),
  };
}
