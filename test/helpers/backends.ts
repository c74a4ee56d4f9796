import { type Backend, getBackend } from "../../src/backend/backend.ts";
import { selectBackendByName } from "../../src/backend/select_name.ts";
import { cudaUnavailableReason } from "../../src/backend/cuda/probe.ts";

/** The named backend when this machine can start it (an adapter, a compiler...), else null. */
export async function optionalBackend(name: string): Promise<Backend | null> {
  try {
    // with a driver, the probe builds the CUDA library first when it is missing
    if (name === "cuda" && await cudaUnavailableReason()) return null;
    return await selectBackendByName(name);
  } catch {
    return null;
  }
}

/**
 * cpu plus the accelerated backends; null entries (no adapter, no GPU...) are skipped with
 * their name visible. DMF_TEST_BACKENDS=cuda,native (comma-separated) picks others.
 */
export async function testBackends(): Promise<[string, Backend | null][]> {
  const names = Deno.env.get("DMF_TEST_BACKENDS")?.split(",").map((s) => s.trim()) ??
    ["cpu", "native", "webgpu", "cuda"];
  const out: [string, Backend | null][] = [];
  for (const name of names) {
    out.push([
      name,
      name === "cpu" ? getBackend("cpu") : await optionalBackend(name),
    ]);
  }
  return out;
}
