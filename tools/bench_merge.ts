/**
 * Merges bench JSON reports taken in separate runs on one machine (e.g. `--backend cuda
 * --compare torch` and `--backend webgpu` on a lent GPU) into one Markdown page:
 *
 *   deno run -A tools/bench_merge.ts --markdown docs/benchmarks_h100.md a.json b.json ...
 *
 * The first report gives the machine and the PyTorch run; every report's backends are kept
 * (a backend measured twice keeps its first run) and compared with that PyTorch run.
 */
import { parseArgs } from "node:util";
import { writeMarkdown } from "./bench/files.ts";
import { compare, markdown } from "./bench/report.ts";
import type { BenchReport } from "./bench/types.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { markdown: { type: "string" }, help: { type: "boolean", short: "h" } },
});
if (values.help || !values.markdown || !positionals.length) {
  console.log("usage: deno run -A tools/bench_merge.ts --markdown OUT.md REPORT.json...");
  Deno.exit(values.help ? 0 : 2);
}

const reports: BenchReport[] = [];
for (const path of positionals) {
  try {
    reports.push(JSON.parse(await Deno.readTextFile(path)) as BenchReport);
  } catch (e) {
    console.error(`bench_merge: cannot read ${path}: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
const merged: BenchReport = { ...reports[0], backends: [] };
merged.command = reports.map((r) => r.command).join("\n");
for (const r of reports) {
  for (const b of r.backends) {
    if (!merged.backends.some((m) => m.backend === b.backend)) merged.backends.push(b);
  }
}
const torch = reports.find((r) => r.torch && "backends" in r.torch)?.torch;
if (torch && "backends" in torch) {
  merged.torch = torch;
  merged.comparisons = compare(merged.backends, torch);
}
await writeMarkdown(values.markdown, markdown(merged));
console.log(`wrote ${values.markdown} (${merged.backends.map((b) => b.backend).join(", ")})`);
