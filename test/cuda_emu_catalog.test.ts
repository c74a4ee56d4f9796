/**
 * The whole engine catalog (forward + gradients vs the CPU reference) on "cuda_emu": the CUDA
 * kernel sources compiled for the CPU with g++ against cuda/emu (see cuda/emu/cuda_emu.h). It
 * checks the kernels' index math, launch shapes and barrier structure on any machine; it says
 * nothing about GPU timing, memory ordering or atomics under real concurrency
 * (test/cuda_catalog.test.ts runs the same suite on a real GPU when there is one).
 */
import { describe, test } from "vitest";
import "../src/backend/cuda/mod.ts";
import { buildCuda, findGxx } from "../src/backend/cuda/build.ts";
import { runCatalogSuite } from "./helpers/catalog.ts";

const gxx = await findGxx();
if (gxx) {
  await buildCuda({ emulate: true, strict: true });
  runCatalogSuite("cuda_emu");
} else {
  describe.skip("engine catalog on cuda_emu: skipped, no C++ compiler (g++) found", () => {
    test("needs g++", () => {});
  });
}
