/**
 * The engine catalog (every op forward + backward against the CPU reference, see
 * test/helpers/catalog.ts) on the real CUDA backend. Skipped, with the reason in the suite's
 * name, where there is no driver, no GPU, or no nvcc to build the library.
 */
import { describe, test } from "vitest";
import { cudaUnavailableReason } from "../src/backend/cuda/probe.ts";
import { runCatalogSuite } from "./helpers/catalog.ts";

const reason = await cudaUnavailableReason();
if (reason) {
  describe.skip(`engine catalog on cuda: skipped, ${reason}`, () => {
    test("needs a CUDA GPU", () => {});
  });
} else {
  runCatalogSuite("cuda");
}
