import { type Backend, getBackend, initBackend, useBackend } from "./backend.ts";
import { registerOptional, selectBackend } from "./select.ts";

/**
 * Initialises a backend by name ("cpu", "webgpu", "native", "cuda", or "auto" = the
 * fastest that starts here, as measured) without changing the default backend. Optional
 * backends' modules load on demand, so a machine without a GPU or compiler still runs cpu.
 */
export async function selectBackendByName(name: string): Promise<Backend> {
  await registerOptional();
  if (name !== "auto") return await initBackend(name);
  const previous = getBackend();
  try {
    return await selectBackend("auto");
  } finally {
    useBackend(previous);
  }
}
