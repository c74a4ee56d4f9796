import { describe, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchReport, BenchRow } from "../tools/bench/types.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const SUITES = ["primitives", "kernels", "blocks", "model"];

/** Runs `tools/bench.ts --quick --backend cpu --json <tmp>` in a subprocess; no timing asserts. */
function runQuickBench(): { report: BenchReport; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "bench-smoke-"));
  const out = join(dir, "bench.json");
  try {
    // node:child_process rather than Deno.Command: args reach the child under vitest workers
    const res = spawnSync(
      Deno.execPath(),
      ["run", "-A", "tools/bench.ts", "--quick", "--backend", "cpu", "--json", out],
      { cwd: root, encoding: "utf8", timeout: 120_000 },
    );
    const output = `${res.stdout ?? ""}${res.stderr ?? ""}`;
    let report: BenchReport;
    try {
      report = JSON.parse(readFileSync(out, "utf8"));
    } catch {
      throw new Error(`bench wrote no JSON (status ${res.status}):\n${output}`);
    }
    return { report, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("deno task bench --quick", () => {
  test("writes every suite for cpu with positive finite timings", () => {
    const { report, output } = runQuickBench();
    expect(report.schema).toBe("dmformer-bench/1");
    expect(report.quick).toBe(true);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.backends.map((b) => b.backend)).toEqual(["cpu"]);
    const cpu = report.backends[0];
    expect(cpu.available).toBe(true);
    expect(cpu.peak!.gflops).toBeGreaterThan(0);
    expect(cpu.peak!.gbps).toBeGreaterThan(0);

    const bySuite = new Map<string, BenchRow[]>();
    for (const r of cpu.rows) bySuite.set(r.suite, [...(bySuite.get(r.suite) ?? []), r]);
    expect([...bySuite.keys()]).toEqual(SUITES);

    const errors = cpu.rows.filter((r) => r.status === "error");
    expect(errors.map((r) => `${r.suite}/${r.name}: ${r.reason}`), output).toEqual([]);

    // primitives and kernels exist in every checkout: they must all have been timed
    for (const suite of ["primitives", "kernels"]) {
      for (const r of bySuite.get(suite)!) expect(r.status, `${suite}/${r.name}`).toBe("ok");
    }
    expect(bySuite.get("primitives")!.map((r) => r.name)).toContain("matmul 64");
    expect(bySuite.get("kernels")!.map((r) => r.name)).toEqual([
      "msda forward",
      "msda forward+backward",
      "window attention forward",
      "window attention forward+backward",
      "swin window attention",
      "swin window attention forward+backward",
      "swin window attention (composed)",
      "swin window attention forward+backward (composed)",
    ]);

    for (const r of cpu.rows) {
      const id = `${r.suite}/${r.name}`;
      if (r.status === "skipped") {
        expect(r.reason, id).toBeTruthy();
        continue;
      }
      expect(r.times_ms!.length, id).toBeGreaterThan(0);
      for (const t of [...r.times_ms!, r.median_ms!, r.min_ms!, r.max_ms!]) {
        expect(Number.isFinite(t) && t > 0, `${id}: ${t}`).toBe(true);
      }
      if (r.flops) expect(Number.isFinite(r.gflops) && r.gflops! > 0, id).toBe(true);
      if (r.bytes) expect(Number.isFinite(r.gbps) && r.gbps! > 0, id).toBe(true);
    }
  });
});
