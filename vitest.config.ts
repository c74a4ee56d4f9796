import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: "forks",
    // test files are mostly single-threaded JS: run two at once on the 2-core CI machine
    maxWorkers: 2,
    minWorkers: 1,
  },
});
