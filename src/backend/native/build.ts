/**
 * Builds native/*.c into the shared library of the native backend, cached by a hash of the
 * sources, the flags and the compiler's version: `.cache/native/<hash>/libdmf.<ext>` in the
 * checkout (or $DMF_NATIVE_CACHE, or ~/.cache/dmformer-deno/native when imported remotely).
 *
 * kernels.c is compiled once per instruction set (AVX-512, AVX2+FMA, baseline) on x86-64;
 * dispatch.c picks one at load time with __builtin_cpu_supports.
 */

/** C files built once with baseline flags (everything but the per-ISA kernels.c). */
const BASELINE_SOURCES = [
  "dispatch.c",
  "pool.c",
  "shape_ops.c",
  "index_ops.c",
  "resample.c",
  "pooling.c",
  "msda.c",
  "norm.c",
  "window_attention.c",
] as const;

/** Source files of the library, relative to native/. */
export const NATIVE_SOURCES = ["dmf.h", "kernels.c", ...BASELINE_SOURCES] as const;

const COMMON = [
  "-O3",
  "-std=c11",
  "-fPIC",
  "-fno-math-errno",
  "-fno-trapping-math",
  "-fvisibility=hidden",
  "-D_GNU_SOURCE",
  "-Wall",
];

/** Per-ISA variants of kernels.c: name, -D flag value and machine flags. */
const X86_VARIANTS: [string, string[]][] = [
  [
    "avx512",
    [
      "-mavx512f",
      "-mavx512vl",
      "-mavx512bw",
      "-mavx512dq",
      "-mavx2",
      "-mfma",
      "-mf16c",
      "-mbmi2",
      "-mprefer-vector-width=512",
    ],
  ],
  ["avx2", ["-mavx2", "-mfma", "-mf16c", "-mbmi2"]],
  ["generic", []],
];

export class NativeBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NativeBuildError";
  }
}

export interface BuildOptions {
  /** Compiler to use (default: $CC, then cc, gcc, clang). */
  cc?: string;
  /** Rebuild even when the cached library exists. */
  force?: boolean;
  /** Print the compiler commands. */
  verbose?: boolean;
  /** Cache root (default: $DMF_NATIVE_CACHE or <repo>/.cache/native). */
  cacheDir?: string;
}

export interface BuildResult {
  path: string;
  hash: string;
  cc: string;
  /** True when this call compiled the library (false: found in the cache). */
  built: boolean;
}

function libName(): string {
  return Deno.build.os === "darwin"
    ? "libdmf.dylib"
    : Deno.build.os === "windows"
    ? "dmf.dll"
    : "libdmf.so";
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

const nativeDir = new URL("../../../native/", import.meta.url);

async function readSources(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of NATIVE_SOURCES) {
    const url = new URL(f, nativeDir);
    if (url.protocol === "file:") {
      out.set(f, await Deno.readTextFile(url));
    } else {
      const res = await fetch(url);
      if (!res.ok) {
        throw new NativeBuildError(`native backend: cannot fetch ${url} (${res.status})`);
      }
      out.set(f, await res.text());
    }
  }
  return out;
}

function defaultCacheRoot(): string {
  const fromEnv = env("DMF_NATIVE_CACHE");
  if (fromEnv) return fromEnv;
  if (nativeDir.protocol === "file:") {
    return decodeURIComponent(new URL("../.cache/native", nativeDir).pathname);
  }
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  return `${env("XDG_CACHE_HOME") ?? `${home}/.cache`}/dmformer-deno/native`;
}

async function run(cmd: string, args: string[], cwd?: string) {
  try {
    const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
      .output();
    const dec = new TextDecoder();
    return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Finds a working C compiler and returns its command and version line. */
export async function findCompiler(cc?: string): Promise<{ cc: string; version: string }> {
  const candidates = cc ? [cc] : [env("CC"), "cc", "gcc", "clang"].filter((c): c is string => !!c);
  for (const c of candidates) {
    const r = await run(c, ["--version"]);
    if (r?.ok) return { cc: c, version: r.stdout.split("\n")[0].trim() };
  }
  throw new NativeBuildError(
    `native backend: no C compiler found (tried ${candidates.join(", ")}). ` +
      `Install gcc or clang, or point $CC at one; the cpu backend works without it.`,
  );
}

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface Step {
  args: string[];
  out: string;
}

function plan(): { objects: Step[]; link: string[] } {
  const isX86 = Deno.build.arch === "x86_64";
  const variants = isX86 ? X86_VARIANTS : [["generic", []] as [string, string[]]];
  const objects: Step[] = variants.map(([isa, flags]) => ({
    args: [...COMMON, `-DDMF_ISA=${isa}`, ...flags, "-c", "kernels.c", "-o", `kernels_${isa}.o`],
    out: `kernels_${isa}.o`,
  }));
  for (const src of BASELINE_SOURCES) {
    const f = src.replace(/\.c$/, "");
    objects.push({ args: [...COMMON, "-pthread", "-c", src, "-o", `${f}.o`], out: `${f}.o` });
  }
  // -z nodelete: the pool's threads keep running library code until the process exits, so
  // the library must stay mapped even if the runtime dlcloses it at shutdown.
  const nodelete = Deno.build.os === "linux" ? ["-Wl,-z,nodelete"] : [];
  const link = [
    "-shared",
    ...nodelete,
    "-o",
    libName(),
    ...objects.map((o) => o.out),
    "-lm",
    "-pthread",
  ];
  return { objects, link };
}

/** Compiles the library unless a cached build of the same sources and flags exists. */
export async function buildNative(opts: BuildOptions = {}): Promise<BuildResult> {
  const sources = await readSources();
  const { cc, version } = await findCompiler(opts.cc);
  const steps = plan();
  const key = JSON.stringify({
    version,
    os: Deno.build.os,
    arch: Deno.build.arch,
    steps,
    sources: [...sources.entries()],
  });
  const hash = (await sha256(key)).slice(0, 16);
  const root = opts.cacheDir ?? defaultCacheRoot();
  const dir = `${root}/${hash}`;
  const path = `${dir}/${libName()}`;
  if (!opts.force) {
    try {
      await Deno.stat(path);
      return { path, hash, cc, built: false };
    } catch {
      // not cached yet
    }
  }
  await Deno.mkdir(root, { recursive: true });
  // Build in a private directory, then rename: concurrent test processes may build at once.
  const tmp = await Deno.makeTempDir({ dir: root, prefix: `build-${hash}-` });
  try {
    for (const [name, text] of sources) await Deno.writeTextFile(`${tmp}/${name}`, text);
    const compile = async (args: string[]) => {
      if (opts.verbose) console.log(`${cc} ${args.join(" ")}`);
      const r = await run(cc, args, tmp);
      if (!r?.ok) {
        throw new NativeBuildError(
          `native backend: ${cc} ${args.join(" ")} failed:\n${r?.stderr ?? "not found"}`,
        );
      }
    };
    await Promise.all(steps.objects.map((s) => compile(s.args)));
    await compile(steps.link);
    await Deno.writeTextFile(`${tmp}/BUILD.txt`, `${version}\n${key.length} bytes of key\n`);
    for (const s of steps.objects) await Deno.remove(`${tmp}/${s.out}`);
    if (opts.force) await Deno.remove(dir, { recursive: true }).catch(() => {});
    try {
      await Deno.rename(tmp, dir);
    } catch {
      // another process finished first: use its build
      await Deno.remove(tmp, { recursive: true });
    }
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  await Deno.stat(path);
  await prune(root, hash).catch(() => {});
  return { path, hash, cc, built: true };
}

/** Keeps the newest builds (other checkouts or processes may still use them); drops the rest
 * and build directories abandoned for an hour. */
async function prune(root: string, keep: string, builds = 6): Promise<void> {
  const dirs: { name: string; mtime: number }[] = [];
  for await (const e of Deno.readDir(root)) {
    if (!e.isDirectory) continue;
    const st = await Deno.stat(`${root}/${e.name}`);
    const mtime = st.mtime?.getTime() ?? 0;
    if (/^build-/.test(e.name) && Date.now() - mtime > 3600_000) {
      await Deno.remove(`${root}/${e.name}`, { recursive: true });
    } else if (/^[0-9a-f]{16}$/.test(e.name) && e.name !== keep) {
      dirs.push({ name: e.name, mtime });
    }
  }
  dirs.sort((a, b) => b.mtime - a.mtime);
  for (const d of dirs.slice(builds - 1)) {
    await Deno.remove(`${root}/${d.name}`, { recursive: true });
  }
}
