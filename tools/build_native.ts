/**
 * Builds the native backend's shared library (native/*.c) into the cache and prints its path.
 *
 *   deno task build:native [--force] [--verbose] [--cc=gcc]
 */
import { buildNative, NativeBuildError } from "../src/backend/native/build.ts";
import { loadNativeLibrary } from "../src/backend/native/ffi.ts";

const args = new Set(Deno.args);
const cc = Deno.args.find((a) => a.startsWith("--cc="))?.slice(5);
try {
  const t0 = performance.now();
  const r = await buildNative({ force: args.has("--force"), verbose: args.has("--verbose"), cc });
  const ms = (performance.now() - t0).toFixed(0);
  console.log(`${r.built ? "built" : "cached"} ${r.path} (${r.cc}, ${ms} ms)`);
  const lib = await loadNativeLibrary({ cc });
  console.log(`isa ${lib.isa()} (best ${lib.bestIsa()}), ${lib.threads()} threads`);
} catch (e) {
  if (e instanceof NativeBuildError) {
    console.error(e.message);
    Deno.exit(1);
  }
  throw e;
}
