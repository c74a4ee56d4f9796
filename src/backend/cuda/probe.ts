/**
 * Whether the real CUDA backend can run here, for tests and tools: null when
 * `initBackend("cuda")` succeeds, otherwise the reason ("cuda: no driver (libcuda.so.1 not
 * found)", "cuda: nvcc not found", a compile error...). With a driver but no library built
 * for the current sources it builds one first (when nvcc is there).
 */
import { initBackend } from "../backend.ts";
import "./mod.ts";
import { buildCuda, builtLibrary, findNvcc } from "./build.ts";
import { driverPresent } from "./ffi.ts";

export async function cudaUnavailableReason(): Promise<string | null> {
  if (!driverPresent()) return "cuda: no driver (libcuda.so.1 not found)";
  if (!Deno.env.get("DMF_CUDA_LIB") && !(await builtLibrary(false))) {
    if (!(await findNvcc())) return "cuda: nvcc not found (and no library built)";
    try {
      await buildCuda({});
    } catch (e) {
      return (e as Error).message;
    }
  }
  try {
    await initBackend("cuda");
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
