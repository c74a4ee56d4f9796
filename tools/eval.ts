/**
 * deno task eval --pred <dir> --gt <dir> --layout ytvos|davis [--meta file] [--out dir]
 */
import { CliError, mustExist, parseCli, runCli } from "../src/cli/common.ts";
import { formatResultsTable, runEvaluation } from "../src/pipeline/evaluate.ts";

export const HELP =
  `Score predicted masks against ground truth with J (region IoU) and F (boundary).

Usage:
  deno task eval --pred <dir> --gt <dir> --layout ytvos|davis [--split valid] [--meta <file>]
                 [--out <dir>]

Options:
  --pred <dir>       predictions: <dir>[/Annotations]/<video>/<exp_id>/<frame>.png (non-zero = object)
  --gt <dir>         a Ref-YouTube-VOS style root (meta_expressions/<split>/ and <split>/Annotations),
                     a Ref-DAVIS17 root (DAVIS/...), or an annotation folder <gt>/<video>/<frame>.png
                     together with --meta
  --layout <name>    ytvos (every frame scored) or davis (255 = void)
  --split <name>     split of a dataset root (default valid)
  --meta <file>      meta_expressions.json listing videos, frames and expressions (obj_id)
  --missing empty    score missing prediction files as empty masks (default: error)
  --out <dir>        where results.json, per-expression.csv and global.csv go (default: --pred)
  --per-video        also print one row per video
  -h, --help         this text

Examples:
  deno task eval --pred out/ref-shapes-valid --gt data/ref-shapes --layout ytvos
  deno task eval --pred out/davis --gt data/ref-davis --layout davis --out out/davis-scores
`;

export async function main(args: string[]): Promise<void> {
  const { values } = parseCli(args, {
    pred: { type: "string" },
    gt: { type: "string" },
    layout: { type: "string" },
    split: { type: "string", default: "valid" },
    meta: { type: "string" },
    missing: { type: "string" },
    out: { type: "string" },
    "per-video": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.pred) throw new CliError("--pred is required (see --help)");
  if (!values.gt) throw new CliError("--gt is required (see --help)");
  if (values.layout !== "ytvos" && values.layout !== "davis") {
    throw new CliError(
      values.layout === undefined
        ? "--layout is required: ytvos or davis"
        : `--layout must be ytvos or davis, got "${values.layout}"`,
    );
  }
  if (values.missing !== undefined && values.missing !== "empty" && values.missing !== "error") {
    throw new CliError(`--missing must be empty or error, got "${values.missing}"`);
  }
  await mustExist(values.pred, "prediction folder", "dir");
  await mustExist(values.gt, "ground-truth folder", "dir");
  if (values.meta) await mustExist(values.meta, "meta file", "file");
  const results = await runEvaluation({
    pred: values.pred,
    gt: values.gt,
    layout: values.layout,
    split: values.split!,
    meta: values.meta,
    missing: values.missing as "empty" | "error" | undefined,
    out: values.out ?? values.pred,
  });
  console.log(formatResultsTable(results.results, values["per-video"] ?? false));
  console.log(`wrote ${results.written.join(", ")}`);
}

if (import.meta.main) await runCli("eval", () => main(Deno.args));
