/**
 * deno task train --config configs/x.json [--resume runs/x] [--backend cpu|native|webgpu|auto]
 */
import {
  checkBackendName,
  CliError,
  mustExist,
  openBackend,
  parseCli,
  runCli,
} from "../src/cli/common.ts";
import { loadTrainConfig } from "../src/pipeline/train_config.ts";
import { train } from "../src/pipeline/train.ts";

export const HELP = `Train DMFormer from a JSON config.

Usage:
  deno task train --config <file.json> [--resume <run dir>] [--backend <name>] [--run-dir <dir>]

Options:
  --config <file>       training config (model, datasets, schedule; see docs/training.md)
  --resume <dir>        continue a run exactly from its latest checkpoint (or a ckpt-* folder)
  --backend <name>      cpu (default), native (C kernels, needs a C compiler), webgpu, auto
  --run-dir <dir>       where checkpoints and log.jsonl go (default: the config's runDir)
  --stop-at-step <n>    stop with a checkpoint once n steps are done (resume later)
  --quiet               no progress output
  -h, --help            this text

Examples:
  deno run -A tools/make_synthetic.ts --out data/ref-shapes --videos 300 --size 96x128
  deno task train --config configs/ref_shapes_tiny.json --backend native
  deno task train --config configs/ref_shapes_tiny.json --resume runs/ref_shapes_tiny
`;

export async function main(args: string[]): Promise<void> {
  const { values } = parseCli(args, {
    config: { type: "string" },
    resume: { type: "string" },
    backend: { type: "string", default: "cpu" },
    "run-dir": { type: "string" },
    "stop-at-step": { type: "string" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  checkBackendName(values.backend!);
  if (!values.config) throw new CliError("--config is required (see --help)");
  const config = await loadTrainConfig(values.config);
  if (values.resume) await mustExist(values.resume, "resume directory", "dir");
  for (const d of config.datasets) {
    if ("root" in d) await mustExist(d.root, `dataset root (${d.type})`, "dir");
  }
  let stopAtStep: number | undefined;
  if (values["stop-at-step"] !== undefined) {
    stopAtStep = Number(values["stop-at-step"]);
    if (!Number.isInteger(stopAtStep) || stopAtStep < 0) {
      throw new CliError(`--stop-at-step must be a non-negative integer`);
    }
  }
  const backend = await openBackend(values.backend!);
  const result = await train(config, {
    backend,
    resume: values.resume,
    runDir: values["run-dir"],
    stopAtStep,
    quiet: values.quiet,
  });
  console.log(
    `done: ${result.state.step} steps; last checkpoint ${result.lastCheckpoint ?? "(none)"}`,
  );
}

if (import.meta.main) await runCli("train", () => main(Deno.args));
