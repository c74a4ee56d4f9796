/**
 * deno task query-report --checkpoint <weights> --config <config.json> --data <ytvos root>
 *   [--split valid] [--out report.csv]
 */
import {
  checkBackendName,
  CliError,
  inferenceFlags,
  mustExist,
  openBackend,
  parseCli,
  positiveInt,
  runCli,
} from "../src/cli/common.ts";
import { loadModelForInference, ytvosJobs } from "../src/pipeline/infer.ts";
import {
  queryReportCsv,
  runQueryReport,
  summarizeQueryReport,
} from "../src/pipeline/query_report.ts";
import { dirname } from "node:path";
import { writeFileAtomic } from "../src/media/atomic_write.ts";

export const HELP = `Which query slot lost the score: the model's choice or its masks.

For every expression of a split with ground truth (Ref-Shapes, or any Ref-YouTube-VOS style tree
with <split>/Annotations), segments the video as deno task infer does and scores every query
slot: the J&F of the slot the model chose (what deno task eval reports), of the best single slot
(a perfect choice) and of the best slot per frame (a perfect choice that may change slots from
frame to frame, as when the object passes from one slot to another while it moves).

Usage:
  deno task query-report --checkpoint <weights> --config <config.json> --data <root>
                         [--split valid] [--out <file.csv>]

Options:
  --checkpoint <path>   model.safetensors, a run or ckpt-* folder
  --config <file>       training config (uses its "model" and "inference") or a model config
  --data <root>         tree with meta_expressions/<split>/, <split>/JPEGImages, <split>/Annotations
  --split <name>        default valid
  --out <file>          per-expression CSV (default: print the summary only)
  --limit <n>           only the first n expressions
  --short-side <px>     resize frames to this short side (default: config inference.shortSide)
  --tta <list>          test-time views as in deno task infer: hflip, reverse, hflip,reverse or
                        none (default: config inference.testTimeAugment)
  --clip-frames <n>     clips of n frames anchored by a whole-window pass, as in deno task infer
  --mask-crf <on|off>   edge-aware mask refinement, as in deno task infer
  --relink-slots <on|off>  slots follow their objects' masks, as in deno task infer
  --backend <name>      cpu (default), native, webgpu, auto
  --quiet               no progress lines
  -h, --help            this text

Example:
  deno task query-report --checkpoint demo/weights.safetensors --config demo/config.json \\
    --data data/ref-shapes --out out/query-report.csv --backend native
`;

export async function main(args: string[]): Promise<void> {
  const { values } = parseCli(args, {
    checkpoint: { type: "string" },
    config: { type: "string" },
    data: { type: "string" },
    split: { type: "string", default: "valid" },
    out: { type: "string" },
    limit: { type: "string" },
    "short-side": { type: "string" },
    tta: { type: "string" },
    "clip-frames": { type: "string" },
    "mask-crf": { type: "string" },
    "relink-slots": { type: "string" },
    backend: { type: "string", default: "cpu" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  checkBackendName(values.backend!);
  if (!values.checkpoint) throw new CliError("--checkpoint is required (see --help)");
  if (!values.data) throw new CliError("--data is required (see --help)");
  await mustExist(values.checkpoint, "checkpoint");
  if (values.config) await mustExist(values.config, "config file", "file");
  await mustExist(values.data, "dataset root", "dir");
  const gtDir = `${values.data}/${values.split}/Annotations`;
  await mustExist(gtDir, `ground truth of split ${values.split}`, "dir");
  const limit = positiveInt(values.limit, "limit");
  const flags = inferenceFlags(values);
  const backend = await openBackend(values.backend!);
  const loaded = await loadModelForInference(values.checkpoint, values.config, backend);
  const jobs = await ytvosJobs(values.data, values.split!);
  const rows = await runQueryReport(loaded, jobs.expressions, jobs.imageDir, gtDir, {
    ...loaded.setup.inference,
    ...flags,
    maxLength: loaded.setup.maxTextLength,
    limit,
    onProgress: (done, total, e) => {
      if (!values.quiet && (done % 20 === 0 || done === total)) {
        console.log(`${done}/${total} expressions (${e.video}/${e.expId})`);
      }
    },
  });
  const s = summarizeQueryReport(rows);
  const f = (x: number) => x.toFixed(3);
  console.log(
    [
      `${s.expressions} expressions`,
      `J&F, the chosen slot:          ${f(s.chosenJF)}`,
      `J&F, the best slot:            ${f(s.bestSlotJF)} ` +
      `(the chosen slot scored lower on ${s.chosenNotBest})`,
      `J&F, the best slot per frame:  ${f(s.perFrameBestJF)} ` +
      `(the best slot changed between frames on ${s.withSlotChanges})`,
    ].join("\n"),
  );
  if (values.out) {
    await Deno.mkdir(dirname(values.out), { recursive: true });
    await writeFileAtomic(values.out, new TextEncoder().encode(queryReportCsv(rows)));
    console.log(`wrote ${values.out}`);
  }
}

if (import.meta.main) await runCli("query-report", () => main(Deno.args));
