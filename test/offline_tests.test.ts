/**
 * tools/offline_tests (the vitest stand-in for machines without npm): a sample file with known
 * outcomes gives exactly those counts, failures are printed with their test's name, and the
 * exit code reports them.
 */
import { expect, test } from "vitest";

test("the offline runner counts passes, failures and skips like vitest", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      "tools/offline_tests/deno.json",
      "tools/offline_tests/run.ts",
      "test/data/offline/sample.ts",
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  expect(text).toContain("test/data/offline/sample.ts: 1 passed, 2 failed, 3 skipped");
  expect(text).toContain("FAIL test/data/offline/sample.ts > block > fails: toEqual");
  expect(text).toContain("expected 0.31 to be close to 0.3 (3 digits)");
  expect(text).toContain("afterAll ran");
  expect(out.code).toBe(1);
});
