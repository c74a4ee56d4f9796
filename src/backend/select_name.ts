import { type Backend, initBackend } from "./backend.ts";

/**
 * Initialises a backend by name, loading optional backends' modules on demand so that
 * a machine without a GPU or compiler still runs the cpu backend.
 */
export async function selectBackendByName(name: string): Promise<Backend> {
  if (name === "webgpu" || name === "auto") {
    try {
      await import("./webgpu/mod.ts");
    } catch (e) {
      if (name === "webgpu") throw e;
    }
  }
  if (name === "auto") {
    const { selectBackend } = await import("./select.ts");
    return await selectBackend("auto");
  }
  return await initBackend(name);
}
