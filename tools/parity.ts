import { parseArgs } from "node:util";
import "../src/ops/mod.ts";
import { formatReport, runParity } from "../src/parity/run.ts";
import { selectBackendByName } from "../src/backend/select_name.ts";

const USAGE =
  `deno task parity <fixture.safetensors>... [--backend cpu|webgpu|native|cuda] [--verbose]

Rebuilds the module named in each golden fixture's metadata, loads its param.* tensors,
feeds in.*, and compares every out.* / grad.* tensor elementwise (|x-ref| <= atol + rtol*|ref|).
Exits non-zero on any failure, on any tensor left unchecked, or on a fixture whose module is
not implemented yet.

Example:
  deno task parity ../shared/fixtures/msda_core.safetensors --backend cpu`;

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    backend: { type: "string", default: Deno.env.get("DMFORMER_BACKEND") ?? "cpu" },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help || positionals.length === 0) {
  console.log(USAGE);
  Deno.exit(values.help ? 0 : 2);
}

try {
  const backend = await selectBackendByName(values.backend!);
  let failures = 0;
  for (const path of positionals) {
    const report = await runParity(path, backend);
    console.log(formatReport(report, values.verbose));
    if (!report.ok) failures++;
  }
  Deno.exit(failures ? 1 : 0);
} catch (e) {
  console.error(`parity: ${e instanceof Error ? e.message : e}`);
  Deno.exit(2);
}
