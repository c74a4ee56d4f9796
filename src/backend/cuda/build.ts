/**
 * Building libdmf_cuda.so from cuda/*.cu (used by tools/build_cuda.ts, the tests and the
 * backend's loader, which looks up the library built from the current sources).
 *
 * - GPU build: nvcc, one object per .cu file (compiled in parallel), `-gencode` for sm_80 and
 *   sm_90 plus compute_90 PTX by default, linked with the static CUDA runtime. The library
 *   needs no CUDA at load time; it asks for the driver (libcuda.so.1) on dmfc_init.
 * - Emulation build (`emulate: true`): the same sources compiled with g++ against
 *   cuda/emu/cuda_emu.h into libdmf_cuda_emu.so, which runs the kernels on the CPU (slowly) so
 *   their index math can be tested without a GPU (see cuda/emu/cuda_emu.h).
 *
 * Outputs go to .cache/cuda/<key>/ where key hashes the sources, the generated header and
 * the flags; .cache/cuda/current[-emu].json points at the latest build of each kind.
 */
import { generateOpsHeader } from "./ops_table.ts";

export const CUDA_DIR = new URL("../../../cuda/", import.meta.url);
export const CACHE_DIR = new URL("../../../.cache/cuda/", import.meta.url);
export const DEFAULT_ARCHS = ["sm_80", "sm_90"];
/** Also embed PTX for this virtual architecture (JIT-compiled on newer GPUs). */
export const DEFAULT_PTX = "compute_90";
export const GENERATED_HEADER = "dmf_ops_gen.cuh";

export interface BuildOptions {
  /** Real architectures to compile for (default sm_80, sm_90). */
  archs?: string[];
  /** Virtual architecture whose PTX is embedded; null for none (default compute_90). */
  ptx?: string | null;
  /** CPU emulation build with g++ instead of nvcc. */
  emulate?: boolean;
  /** Treat compiler warnings as errors. */
  strict?: boolean;
  /** Rebuild even when the output exists. */
  force?: boolean;
  /** Parallel compiler processes (default: CPU count). */
  jobs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Compile only these .cu files (by base name) and skip linking: a syntax check. */
  only?: string[];
  /** Do not update current[-emu].json (test builds). */
  noPointer?: boolean;
}

export interface BuildResult {
  library: string;
  key: string;
  cached: boolean;
  /** Compiler warnings (stderr lines mentioning "warning"). */
  warnings: string[];
  seconds: number;
}

export class CudaBuildError extends Error {
  constructor(message: string, readonly output = "") {
    super(output ? `${message}\n${output}` : message);
    this.name = "CudaBuildError";
  }
}

interface Source {
  name: string;
  text: string;
}

/** The .cu / .cuh / .h / .cpp files under cuda/ (emu/ included), sorted by path. */
export async function readSources(): Promise<Source[]> {
  const out: Source[] = [];
  const walk = async (dir: URL, prefix: string) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await walk(new URL(`${e.name}/`, dir), `${prefix}${e.name}/`);
      else if (/\.(cu|cuh|h|cpp)$/.test(e.name)) {
        out.push({ name: prefix + e.name, text: await Deno.readTextFile(new URL(e.name, dir)) });
      }
    }
  };
  await walk(CUDA_DIR, "");
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hash of the sources and the generated header (what the library's code depends on). */
export async function sourcesHash(sources?: Source[]): Promise<string> {
  const src = sources ?? await readSources();
  const all = src.map((s) => `--- ${s.name}\n${s.text}`).join("\n") +
    `--- ${GENERATED_HEADER}\n${generateOpsHeader()}`;
  return (await sha256(all)).slice(0, 16);
}

function resolvedArchs(o: BuildOptions): { archs: string[]; ptx: string | null } {
  return { archs: o.archs ?? DEFAULT_ARCHS, ptx: o.ptx === undefined ? DEFAULT_PTX : o.ptx };
}

function flagsKey(o: BuildOptions): string {
  if (o.emulate) return "emu:g++:-O2";
  const { archs, ptx } = resolvedArchs(o);
  return `nvcc:${archs.join(",")}:${ptx ?? "-"}:-O3`;
}

export function libraryName(emulate: boolean): string {
  return emulate ? "libdmf_cuda_emu.so" : "libdmf_cuda.so";
}

function pointerUrl(emulate: boolean): URL {
  return new URL(emulate ? "current-emu.json" : "current.json", CACHE_DIR);
}

/** Where nvcc is: $CUDA_HOME/bin, $CUDA_PATH/bin, PATH, /usr/local/cuda/bin; null if absent. */
export async function findNvcc(): Promise<string | null> {
  const candidates: string[] = [];
  for (const v of ["CUDA_HOME", "CUDA_PATH"]) {
    const d = Deno.env.get(v);
    if (d) candidates.push(`${d}/bin/nvcc`);
  }
  candidates.push("nvcc", "/usr/local/cuda/bin/nvcc");
  return await firstRunnable(candidates);
}

export async function findGxx(): Promise<string | null> {
  return await firstRunnable([Deno.env.get("CXX") ?? "", "g++", "clang++"].filter((c) => c));
}

/** The first command that runs `<c> --version` successfully, or null. */
async function firstRunnable(candidates: string[]): Promise<string | null> {
  for (const c of candidates) {
    try {
      const r = await new Deno.Command(c, { args: ["--version"], stdout: "null", stderr: "null" })
        .output();
      if (r.success) return c;
    } catch {
      // not there
    }
  }
  return null;
}

/** The library built from the current sources (per current[-emu].json), or null. */
export async function builtLibrary(emulate: boolean): Promise<string | null> {
  try {
    const p = JSON.parse(await Deno.readTextFile(pointerUrl(emulate)));
    if (p.sources !== await sourcesHash()) return null;
    await Deno.stat(p.library);
    return p.library as string;
  } catch {
    return null;
  }
}

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; text: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { ok: r.success, text: (dec.decode(r.stdout) + dec.decode(r.stderr)).trim() };
}

async function pool<T>(items: T[], jobs: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
}

function warningLines(text: string): string[] {
  return text.split("\n").filter((l) => /warning/i.test(l));
}

/** Compiles (unless cached) and returns the library path. Throws CudaBuildError. */
export async function buildCuda(opts: BuildOptions = {}): Promise<BuildResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const emulate = !!opts.emulate;
  const compiler = emulate ? await findGxx() : await findNvcc();
  if (!compiler) {
    throw new CudaBuildError(
      emulate ? "cuda: g++ not found (emulation build)" : "cuda: nvcc not found",
    );
  }
  const src = await readSources();
  const srcHash = await sourcesHash(src);
  const key = (await sha256(
    `${srcHash}|${flagsKey(opts)}|${(opts.only ?? []).join(",")}`,
  )).slice(0, 16);
  const dir = new URL(`${key}/`, CACHE_DIR);
  const lib = new URL(libraryName(emulate), dir).pathname;
  const stamp = new URL("ok", dir).pathname;
  if (!opts.force) {
    try {
      await Deno.stat(stamp);
      const result = {
        library: lib,
        key,
        cached: true,
        warnings: JSON.parse(await Deno.readTextFile(stamp)).warnings ?? [],
        seconds: 0,
      };
      if (opts.strict && result.warnings.length) {
        throw new CudaBuildError("cuda: the cached build has warnings", result.warnings.join("\n"));
      }
      if (!opts.only && !opts.noPointer) await writePointer(emulate, srcHash, lib, key);
      return result;
    } catch (e) {
      if (e instanceof CudaBuildError) throw e;
      // not built yet
    }
  }
  // build in a private directory, then move it into place: concurrent builds (parallel test
  // files) never see each other's half-written objects; the first to finish wins
  const work = new URL(`${key}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}/`, CACHE_DIR);
  const gen = new URL("gen/", work);
  const obj = new URL("obj/", work);
  await Deno.mkdir(gen, { recursive: true });
  await Deno.mkdir(obj, { recursive: true });
  await Deno.writeTextFile(new URL(GENERATED_HEADER, gen), generateOpsHeader());
  const cudaDir = CUDA_DIR.pathname;
  let units = src.filter((s) => s.name.endsWith(".cu") && !s.name.includes("/"));
  if (opts.only) units = units.filter((u) => opts.only!.includes(u.name.replace(/\.cu$/, "")));
  if (emulate) units = [...units, ...src.filter((s) => s.name === "emu/cuda_emu.cpp")];
  const { archs, ptx } = resolvedArchs(opts);
  const common = emulate
    ? [
      "-x",
      "c++",
      "-std=c++17",
      "-O2",
      "-fPIC",
      "-DDMF_EMU",
      "-Wall",
      "-Wextra",
      "-Wno-unknown-pragmas",
      "-Wno-unused-parameter",
      "-fvisibility=hidden",
      `-I${cudaDir}`,
      `-I${gen.pathname}`,
    ]
    : [
      "-std=c++17",
      "-O3",
      "-Xcompiler",
      "-fPIC,-fvisibility=hidden,-Wall",
      ...archs.flatMap((a) => ["-gencode", `arch=${a.replace("sm_", "compute_")},code=${a}`]),
      ...(ptx ? ["-gencode", `arch=${ptx},code=${ptx}`] : []),
      `-I${cudaDir}`,
      `-I${gen.pathname}`,
    ];
  if (opts.strict) common.push(...(emulate ? ["-Werror"] : ["-Werror", "all-warnings"]));
  const warnings: string[] = [];
  const failures: string[] = [];
  const objects: string[] = [];
  const jobs = opts.jobs ?? navigator.hardwareConcurrency ?? 4;
  log(`cuda: compiling ${units.length} files with ${compiler} (${flagsKey(opts)}), ${jobs} jobs`);
  await pool(units, jobs, async (u) => {
    const o = new URL(`${u.name.replace(/[/.]/g, "_")}.o`, obj).pathname;
    const srcPath = new URL(u.name, CUDA_DIR).pathname;
    const args = u.name.endsWith(".cpp")
      ? [
        "-std=c++17",
        "-O2",
        "-fPIC",
        "-DDMF_EMU",
        "-Wall",
        "-Wextra",
        "-fvisibility=hidden",
        ...(opts.strict ? ["-Werror"] : []),
        `-I${cudaDir}`,
        "-c",
        srcPath,
        "-o",
        o,
      ]
      : [...common, "-c", srcPath, "-o", o];
    const t = performance.now();
    const r = await run(compiler, args);
    log(
      `  ${u.name}: ${r.ok ? "ok" : "FAILED"} (${((performance.now() - t) / 1000).toFixed(1)} s)`,
    );
    for (const w of warningLines(r.text)) {
      const line = w.replaceAll(cudaDir, "cuda/");
      if (!warnings.includes(line)) warnings.push(line);
    }
    if (!r.ok) failures.push(`${u.name}:\n${r.text}`);
    objects.push(o);
  });
  if (failures.length) {
    await Deno.remove(work, { recursive: true }).catch(() => {});
    throw new CudaBuildError(
      `cuda: compiling failed (${failures.length} files)`,
      failures.join("\n\n"),
    );
  }
  if (!opts.only) {
    const out = new URL(libraryName(emulate), work).pathname;
    const linkArgs = emulate
      ? ["-shared", "-o", out, ...objects.sort()]
      : ["-shared", "-o", out, ...objects.sort(), "-cudart", "static"];
    const r = await run(compiler, linkArgs);
    if (!r.ok) {
      await Deno.remove(work, { recursive: true }).catch(() => {});
      throw new CudaBuildError("cuda: linking failed", r.text);
    }
  }
  await Deno.writeTextFile(
    new URL("ok", work),
    JSON.stringify({ warnings, flags: flagsKey(opts) }),
  );
  if (opts.force) await Deno.remove(dir, { recursive: true }).catch(() => {});
  try {
    await Deno.rename(work, dir);
  } catch {
    // another process finished the same build first: keep its output
    await Deno.remove(work, { recursive: true }).catch(() => {});
    await Deno.stat(stamp);
  }
  if (!opts.only && !opts.noPointer) await writePointer(emulate, srcHash, lib, key);
  const seconds = (performance.now() - t0) / 1000;
  log(`cuda: built ${opts.only ? "(objects only)" : lib} in ${seconds.toFixed(1)} s`);
  return { library: lib, key, cached: false, warnings, seconds };
}

async function writePointer(emulate: boolean, sources: string, library: string, key: string) {
  await Deno.mkdir(CACHE_DIR, { recursive: true });
  const tmp = `${pointerUrl(emulate).pathname}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify({ sources, library, key }, null, 2));
  await Deno.rename(tmp, pointerUrl(emulate));
}
