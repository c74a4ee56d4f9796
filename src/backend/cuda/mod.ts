/**
 * Registers the CUDA backends. Importing this module loads nothing: the library is opened
 * on `await initBackend("cuda")`, which fails with a clear message on machines without a
 * driver ("cuda: no driver (libcuda.so.1 not found)"), without a device, or without a built
 * library ("run `deno task build:cuda`"); the other backends keep working.
 *
 * - "cuda": libdmf_cuda.so (built by `deno task build:cuda`; $DMF_CUDA_LIB overrides the path,
 *   $DMF_CUDA_DEVICE picks the device, $DMF_CUDA_SYNC=1 synchronises after every kernel).
 * - "cuda_emu": the same kernel sources built for the CPU (`deno task build:cuda --emulate`),
 *   a slow stand-in that lets tests run the CUDA kernels' logic without a GPU.
 */
import { registerBackendFactory } from "../backend.ts";

registerBackendFactory("cuda", async () => {
  const { createCudaBackend } = await import("./backend.ts");
  const dev = Number(Deno.env.get("DMF_CUDA_DEVICE") ?? "0");
  return await createCudaBackend({ name: "cuda", device: Number.isFinite(dev) ? dev : 0 });
});

registerBackendFactory("cuda_emu", async () => {
  const { createCudaBackend } = await import("./backend.ts");
  return await createCudaBackend({ name: "cuda_emu", emulate: true });
});

export type { CudaBackend, CudaDeviceInfo, CudaPoolStats } from "./backend.ts";
