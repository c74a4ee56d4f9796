/**
 * Runs vitest-style test files with only the Deno binary (no npm registry, no node_modules):
 *
 *   deno run -A --config tools/offline_tests/deno.json tools/offline_tests/run.ts \
 *     [--filter REGEX] [--timeout S] [--log FILE] test/a.test.ts [test/b.test.ts ...]
 *
 * For lent GPU machines that cannot install vitest: the files import "vitest", which the
 * config above maps to tools/offline_tests/vitest.ts. Prints failures as they happen and one
 * summary line per file ("N passed, N failed, N skipped"); --log writes every test's result.
 * Exit code 1 when any test failed.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type Block, root, SkipSignal, testContext, type TestEntry } from "./vitest.ts";

interface Totals {
  passed: number;
  failed: number;
  skipped: number;
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    filter: { type: "string" },
    timeout: { type: "string", default: "300" },
    log: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help || !positionals.length) {
  console.log(
    "usage: deno run -A --config tools/offline_tests/deno.json tools/offline_tests/run.ts " +
      "[--filter REGEX] [--timeout S] [--log FILE] FILE...",
  );
  Deno.exit(values.help ? 0 : 2);
}
const filter = values.filter ? new RegExp(values.filter) : null;
const timeoutMs = Number(values.timeout) * 1000;
const logLines: string[] = [];

function withTimeout(p: Promise<unknown>, what: string): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs / 1000} s: ${what}`)),
      timeoutMs,
    );
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

function message(e: unknown): string {
  return e instanceof Error
    ? `${e.message}\n${e.stack?.split("\n").slice(1, 4).join("\n")}`
    : String(e);
}

async function runBlock(
  block: Block,
  path: string[],
  t: Totals,
): Promise<void> {
  const tests = (b: Block): TestEntry[] => b.children.flatMap((c) => ("fn" in c ? [c] : tests(c)));
  const selected = (e: TestEntry, p: string[]) =>
    !filter || filter.test([...p, e.name].join(" > "));
  let setupError: unknown = null;
  if (
    !block.skip && block.beforeAll.length && tests(block).some((e) => !e.skip)
  ) {
    try {
      for (const fn of block.beforeAll) {
        await withTimeout(
          Promise.resolve(fn(testContext)),
          `beforeAll of ${path.join(" > ")}`,
        );
      }
    } catch (e) {
      setupError = e;
    }
  }
  for (const child of block.children) {
    if (!("fn" in child)) {
      await runBlock(child, [...path, child.name], t);
      continue;
    }
    const name = [...path, child.name].join(" > ");
    if (!selected(child, path)) continue;
    const started = performance.now();
    try {
      if (child.skip) throw new SkipSignal();
      if (setupError) throw setupError;
      await withTimeout(Promise.resolve(child.fn(testContext)), name);
      t.passed++;
      logLines.push(
        `ok   ${name} (${(performance.now() - started).toFixed(0)} ms)`,
      );
    } catch (e) {
      if (e instanceof SkipSignal) {
        t.skipped++;
        logLines.push(`skip ${name}`);
        continue;
      }
      t.failed++;
      const text = `FAIL ${name} (${(performance.now() - started).toFixed(0)} ms)\n  ${
        message(e).replaceAll("\n", "\n  ")
      }`;
      console.log(text);
      logLines.push(text);
    }
  }
  for (const fn of block.afterAll) {
    try {
      await withTimeout(Promise.resolve(fn(testContext)), `afterAll of ${path.join(" > ")}`);
    } catch (e) {
      t.failed++;
      const text = `FAIL afterAll of ${path.join(" > ")}\n  ${message(e)}`;
      console.log(text);
      logLines.push(text);
    }
  }
}

const all: Totals = { passed: 0, failed: 0, skipped: 0 };
for (const file of positionals) {
  root.children.length = 0;
  root.beforeAll.length = 0;
  root.afterAll.length = 0;
  const t: Totals = { passed: 0, failed: 0, skipped: 0 };
  const started = performance.now();
  try {
    await import(pathToFileURL(resolve(file)).href);
    await runBlock(root, [file], t);
  } catch (e) {
    t.failed++;
    const text = `FAIL ${file}: could not load or run\n  ${message(e)}`;
    console.log(text);
    logLines.push(text);
  }
  console.log(
    `${file}: ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped ` +
      `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
  all.passed += t.passed;
  all.failed += t.failed;
  all.skipped += t.skipped;
}
console.log(
  `total: ${all.passed} passed, ${all.failed} failed, ${all.skipped} skipped`,
);
if (values.log) {
  await Deno.writeTextFile(values.log, logLines.join("\n") + "\n");
}
Deno.exit(all.failed ? 1 : 0);
