/**
 * When nvcc is installed: every cuda/*.cu file must compile (errors and warnings fail the
 * test). To keep it quick this builds one architecture (sm_80, no PTX); `deno task build:cuda`
 * builds the full set. The built library must load with Deno.dlopen against the symbol table
 * and, on a machine without the driver, report that clearly from dmfc_init.
 */
import { describe, expect, test } from "vitest";
import { buildCuda, findNvcc } from "../src/backend/cuda/build.ts";
import { driverPresent, STATUS, SYMBOLS } from "../src/backend/cuda/ffi.ts";

const nvcc = await findNvcc();

if (!nvcc) {
  describe.skip("cuda build: skipped, nvcc not found", () => {
    test("needs nvcc", () => {});
  });
} else {
  describe(`cuda build with ${nvcc} (sm_80 only)`, () => {
    test("compiles every source without errors or warnings, and the library loads", async () => {
      const r = await buildCuda({ archs: ["sm_80"], ptx: null, strict: true, noPointer: true });
      expect(r.warnings).toEqual([]);
      const lib = Deno.dlopen(r.library, SYMBOLS);
      try {
        expect(lib.symbols.dmfc_version()).toBe(1);
        expect(lib.symbols.dmfc_is_emulation()).toBe(0);
        if (!driverPresent()) {
          expect(lib.symbols.dmfc_init(0)).toBe(STATUS.NO_DRIVER);
          const buf = new Uint8Array(512);
          const n = lib.symbols.dmfc_last_error(buf, buf.length);
          expect(new TextDecoder().decode(buf.subarray(0, n))).toMatch(/driver/i);
          // nothing runs before init
          await expect(lib.symbols.dmfc_sync()).resolves.toBe(STATUS.NOT_INIT);
        }
      } finally {
        lib.close();
      }
    }, 1_800_000);
  });
}
