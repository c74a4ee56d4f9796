/**
 * Builds the CUDA backend's library: `deno task build:cuda [options]`.
 *
 *   --arch sm_80,sm_90   real architectures (default sm_80,sm_90; PTX for compute_90 is added)
 *   --ptx compute_90     virtual architecture embedded as PTX ("none" for none)
 *   --emulate            CPU emulation build with g++ (libdmf_cuda_emu.so, for tests)
 *   --strict             warnings are errors
 *   --force              rebuild even if the cache has it
 *   --jobs N             parallel compiler processes
 *
 * Output: .cache/cuda/<key>/libdmf_cuda.so (the backend finds it through
 * .cache/cuda/current.json). Without nvcc it prints "cuda: nvcc not found" and exits 1.
 */
import { buildCuda, CudaBuildError } from "../src/backend/cuda/build.ts";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const flag = (name: string) => Deno.args.includes(name);

if (flag("--help") || flag("-h")) {
  console.log(
    "usage: deno task build:cuda [--arch sm_80,sm_90] [--ptx compute_90|none] [--emulate] " +
      "[--strict] [--force] [--jobs N]",
  );
  Deno.exit(0);
}

try {
  const ptx = arg("--ptx");
  const r = await buildCuda({
    archs: arg("--arch")?.split(","),
    ptx: ptx === "none" ? null : ptx,
    emulate: flag("--emulate"),
    strict: flag("--strict"),
    force: flag("--force"),
    jobs: arg("--jobs") ? Number(arg("--jobs")) : undefined,
    log: (l) => console.log(l),
  });
  for (const w of r.warnings) console.warn(w);
  console.log(r.cached ? `cuda: up to date: ${r.library}` : `cuda: wrote ${r.library}`);
} catch (e) {
  if (e instanceof CudaBuildError) {
    console.error(e.message);
    Deno.exit(1);
  }
  throw e;
}
