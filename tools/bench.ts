/**
 * Benchmarks: deno task bench [--backend cpu,webgpu,native|all] [--filter regex]
 *   [--json out.json] [--markdown docs/benchmarks.md] [--compare torch] [--quick]
 *   [--repeat N] [--budget S] [--max-seconds S] [--python PATH] [--torch-device cpu|cuda]
 *
 * Suites live in tools/bench/ (primitives, kernels, blocks, model). Prints one table per
 * backend; --json writes the BenchReport (tools/bench/types.ts), --markdown the
 * docs/benchmarks.md page, --compare torch runs tools/bench_torch.py afterwards and prints
 * ours/torch time ratios.
 */
import { blocks } from "./bench/blocks.ts";
import { writeAtomic, writeMarkdown } from "./bench/files.ts";
import { kernels } from "./bench/kernels.ts";
import { model } from "./bench/model.ts";
import { primitives } from "./bench/primitives.ts";
import { compare, comparisonTable, consoleTable, markdown } from "./bench/report.ts";
import { ALL_BACKENDS, runBackend, type RunOptions } from "./bench/runner.ts";
import type { BackendReport, BenchReport, MachineInfo, Suite } from "./bench/types.ts";

export const SUITES: Suite[] = [primitives, kernels, blocks, model];

const USAGE = `deno task bench [options]
  --backend LIST     comma-separated backends, or "all" (${ALL_BACKENDS.join(", ")}); default cpu
  --filter REGEX     only cases whose "suite/case" matches
  --json PATH        write the results as JSON
  --markdown PATH    write the Markdown report (docs/benchmarks.md), atomically
  --compare torch    also run tools/bench_torch.py (python3 + torch) and print ours/torch
  --quick            tiny sizes, one run per case (smoke test)
  --repeat N         timed iterations per case (default 5)
  --budget S         seconds of timed iterations per case before fewer repeats (default 10)
  --max-seconds S    skip cases estimated to take longer per iteration on cpu (default 60)
  --python PATH      interpreter for --compare torch (default /usr/bin/python3)
  --torch-device D   where --compare torch runs PyTorch: cpu (default) or cuda`;

interface Args {
  backends: string[];
  filter?: RegExp;
  json?: string;
  markdown?: string;
  compare?: string;
  quick: boolean;
  repeat: number;
  budget: number;
  maxSeconds: number;
  python: string;
  torchDevice: "cpu" | "cuda";
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    backends: ["cpu"],
    quick: false,
    repeat: 5,
    budget: 10,
    maxSeconds: 60,
    python: "/usr/bin/python3",
    torchDevice: "cpu",
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const [key, inline] = flag.includes("=") ? flag.split(/=(.*)/s, 2) : [flag, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${key} needs a value`);
      return v;
    };
    const num = () => {
      const v = Number(value());
      if (!(v > 0)) throw new Error(`${key} needs a positive number`);
      return v;
    };
    switch (key) {
      case "--backend": {
        const v = value();
        a.backends = v === "all" ? [...ALL_BACKENDS] : v.split(",").map((s) => s.trim());
        break;
      }
      case "--filter":
        a.filter = new RegExp(value());
        break;
      case "--json":
        a.json = value();
        break;
      case "--markdown":
        a.markdown = value();
        break;
      case "--compare":
        a.compare = value();
        if (a.compare !== "torch") {
          throw new Error(`--compare: only "torch" is supported`);
        }
        break;
      case "--quick":
        a.quick = true;
        break;
      case "--repeat":
        a.repeat = Math.round(num());
        break;
      case "--budget":
        a.budget = num();
        break;
      case "--max-seconds":
        a.maxSeconds = num();
        break;
      case "--python":
        a.python = value();
        break;
      case "--torch-device": {
        const v = value();
        if (v !== "cpu" && v !== "cuda") {
          throw new Error(`--torch-device: cpu or cuda, not "${v}"`);
        }
        a.torchDevice = v;
        break;
      }
      case "-h":
      case "--help":
        console.log(USAGE);
        Deno.exit(0);
        break;
      default:
        throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return a;
}

function loadAverage(): string {
  try {
    return Deno.loadavg()[0].toFixed(2);
  } catch {
    return "?";
  }
}

async function machineInfo(): Promise<MachineInfo> {
  let cpu = "unknown CPU";
  try {
    const text = await Deno.readTextFile("/proc/cpuinfo");
    cpu = /^model name\s*:\s*(.+)$/m.exec(text)?.[1].trim() ?? cpu;
  } catch {
    // not Linux
  }
  let memory: number | undefined;
  try {
    memory = Deno.systemMemoryInfo().total / 2 ** 30;
  } catch {
    // permission or platform
  }
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memory_gib: memory,
    os: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    runtime:
      `Deno ${Deno.version.deno} (V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript})`,
  };
}

const quote = (
  s: string,
) => (/^[\w./,=:@+-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);

/** Runs tools/bench_torch.py with the same selection; an error object when it cannot. */
async function runTorch(a: Args): Promise<BenchReport | { error: string }> {
  try {
    await Deno.stat(a.python);
  } catch {
    return {
      error: `${a.python} not found (install python3 and python3-torch)`,
    };
  }
  const script = new URL("./bench_torch.py", import.meta.url).pathname;
  const out = await Deno.makeTempFile({
    prefix: "bench_torch_",
    suffix: ".json",
  });
  const args = [
    script,
    "--json",
    out,
    "--repeat",
    String(a.repeat),
    "--budget",
    String(a.budget),
  ];
  if (a.quick) args.push("--quick");
  if (a.filter) args.push("--filter", a.filter.source);
  if (a.torchDevice !== "cpu") args.push("--device", a.torchDevice);
  try {
    console.log(
      `\nPyTorch reference: ${a.python} ${args.map(quote).join(" ")}`,
    );
    const { code } = await new Deno.Command(a.python, {
      args,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (code === 3) {
      return {
        error: "python3 cannot import torch (apt-get install python3-torch)",
      };
    }
    if (code === 4) {
      return { error: "PyTorch sees no CUDA device (--torch-device cuda)" };
    }
    if (code !== 0) {
      return { error: `tools/bench_torch.py exited with code ${code}` };
    }
    return JSON.parse(await Deno.readTextFile(out)) as BenchReport;
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

async function main(): Promise<void> {
  const a = parseArgs(Deno.args);
  const opts: RunOptions = {
    quick: a.quick,
    repeat: a.repeat,
    budgetS: a.budget,
    maxSeconds: a.maxSeconds,
    filter: a.filter,
    log: (line) => console.log(line),
  };
  const report: BenchReport = {
    schema: "dmformer-bench/1",
    date: new Date().toISOString(),
    command: `deno task bench ${Deno.args.map(quote).join(" ")}`.trimEnd(),
    quick: a.quick,
    machine: await machineInfo(),
    backends: [],
  };
  const loadStart = loadAverage();
  const started = performance.now();
  for (const name of a.backends) {
    const b: BackendReport = await runBackend(name, SUITES, opts);
    report.backends.push(b);
  }
  if (a.compare === "torch") {
    report.torch = await runTorch(a);
    if ("error" in report.torch) {
      console.log(`PyTorch comparison skipped: ${report.torch.error}`);
    } else report.comparisons = compare(report.backends, report.torch);
  }
  report.machine.load = `${loadStart} at start, ${loadAverage()} at end`;
  console.log("");
  for (const b of report.backends) console.log(consoleTable(b) + "\n");
  if (report.torch && "backends" in report.torch) {
    for (const b of report.torch.backends) console.log(consoleTable(b) + "\n");
  }
  if (report.comparisons?.length) {
    console.log("ours / torch (median time; > 1 means slower than PyTorch)");
    console.log(comparisonTable(report.comparisons) + "\n");
  }
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (a.json) {
    await writeAtomic(a.json, JSON.stringify(report, null, 2) + "\n");
    console.log(`wrote ${a.json}`);
  }
  if (a.markdown) {
    await writeMarkdown(a.markdown, markdown(report));
    console.log(`wrote ${a.markdown}`);
  }
  const failed = report.backends.flatMap((b) => b.rows).filter((r) => r.status === "error");
  if (failed.length) {
    console.log(
      `${failed.length} case(s) failed: ${failed.map((r) => `${r.suite}/${r.name}`)}`,
    );
    Deno.exitCode = 1;
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    Deno.exit(2);
  }
}
