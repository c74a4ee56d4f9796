import { type Backend, getBackend } from "../../src/backend/backend.ts";
import { selectBackendByName } from "../../src/backend/select_name.ts";

/** The named backend when this machine can start it (an adapter, a compiler...), else null. */
export async function optionalBackend(name: string): Promise<Backend | null> {
  try {
    return await selectBackendByName(name);
  } catch {
    return null;
  }
}

/** cpu plus the accelerated backends; null entries are skipped with their name visible. */
export async function testBackends(): Promise<[string, Backend | null][]> {
  return [
    ["cpu", getBackend("cpu")],
    ["native", await optionalBackend("native")],
    ["webgpu", await optionalBackend("webgpu")],
  ];
}
