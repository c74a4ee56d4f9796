/**
 * Backend selection: by name, from the DMFORMER_BACKEND environment variable, or "auto",
 * which initialises every backend that can start on this machine and keeps the one that
 * runs a small matmul fastest (measured, never assumed: a software WebGPU adapter is
 * slower than the CPU reference on some machines).
 */
import { type Backend, initBackend, knownBackends, setBackend } from "./backend.ts";
import { apply1 } from "../ops/dispatch.ts";
import "../ops/mod.ts";

export interface SelectOptions {
  /** Matmul size used by "auto" (n x n @ n x n). */
  size?: number;
  /** Log the measured timings. */
  verbose?: boolean;
}

function envBackend(): string | undefined {
  try {
    return Deno.env.get("DMFORMER_BACKEND") || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes the optional backends' factories known: webgpu, native (C via dlopen) and cuda.
 * A module that fails to load is skipped; factories fail later, with their reason, only
 * when that backend is asked for.
 */
export async function registerOptional(): Promise<void> {
  for (
    const load of [
      () => import("./webgpu/mod.ts"),
      () => import("./native/mod.ts"),
      () => import("./cuda/mod.ts"),
    ]
  ) {
    try {
      await load();
    } catch {
      // this runtime cannot load the module (e.g. no FFI permission)
    }
  }
}

/** Milliseconds per n x n matmul on `b` (best of a few runs after a warm-up). */
export async function timeMatmul(b: Backend, n = 256): Promise<number> {
  const make = (seed: number) =>
    apply1("rand_uniform", [], { shape: [n, n], dtype: "f32", seed, offset: 0, backend: b });
  const x = make(1);
  const y = make(2);
  const once = async () => {
    const t0 = performance.now();
    const z = apply1("matmul", [x, y], {});
    await z.data();
    z.dispose();
    return performance.now() - t0;
  };
  try {
    await once();
    let best = Infinity;
    for (let i = 0; i < 3; i++) best = Math.min(best, await once());
    return best;
  } finally {
    x.dispose();
    y.dispose();
  }
}

/**
 * Returns a ready backend and makes it the default: `name` ("cpu", "webgpu", "auto", or any
 * registered backend), else DMFORMER_BACKEND, else "auto".
 */
export async function selectBackend(
  name?: "cpu" | "webgpu" | "auto" | string,
  opts: SelectOptions = {},
): Promise<Backend> {
  const want = name ?? envBackend() ?? "auto";
  await registerOptional();
  if (want !== "auto") return await setBackend(want);
  let best: { backend: Backend; ms: number } | null = null;
  const log: string[] = [];
  // emulators (cuda_emu) exist for tests, never as a real choice
  for (const candidate of knownBackends().filter((n) => !n.endsWith("_emu"))) {
    let backend: Backend;
    try {
      backend = await initBackend(candidate);
    } catch (e) {
      log.push(`${candidate}: unavailable (${(e as Error).message})`);
      continue;
    }
    if (!backend.dtypes.includes("f32")) continue;
    try {
      const ms = await timeMatmul(backend, opts.size);
      log.push(`${candidate}: ${ms.toFixed(2)} ms`);
      if (!best || ms < best.ms) best = { backend, ms };
    } catch (e) {
      log.push(`${candidate}: failed (${(e as Error).message})`);
    }
  }
  if (opts.verbose) console.log(`selectBackend(auto): ${log.join("; ")}`);
  if (!best) return await setBackend("cpu");
  return await setBackend(best.backend.name);
}
