/**
 * deno task fit-choice --checkpoint <weights> --config <config.json> --data <ytvos root>
 *   --out <dir> [--split train]
 */
import { dirname, join } from "node:path";
import {
  checkBackendName,
  CliError,
  inferenceFlags,
  mustExist,
  nonNegativeNumber,
  openBackend,
  parseCli,
  positiveInt,
  runCli,
} from "../src/cli/common.ts";
import type { InferenceSettings } from "../src/pipeline/train_config.ts";
import { type LoadedModel, loadModelForInference, ytvosJobs } from "../src/pipeline/infer.ts";
import {
  checkSamplesMatchHead,
  choiceJF,
  type ChoiceWeights,
  collectChoiceSamples,
  fitChoiceTerm,
  lastClassHead,
  loadChoiceSamples,
  saveChoiceSamples,
} from "../src/pipeline/choice_fit.ts";
import { saveModelWeights } from "../src/pipeline/checkpoint.ts";
import { tensor } from "../src/ops/creation.ts";
import { param } from "../src/nn/module.ts";
import { writeFileAtomic } from "../src/media/atomic_write.ts";

export const HELP = `Refit the class_geometry term to the query choice as inference makes it.

A model trained with "classGeometry": true learns that term from clips of a few frames; inference
picks the query by its class score averaged over every frame. This command runs the model over a
split with ground truth as deno task infer does (the config's test-time views and clip-wise
inference included; not the mask refinement, which does not change the choice), records each
query slot's class logits, mask geometry and J&F from every pass whose scores the choice averages, and refits only class_geometry.weight and .bias so that the slot with the best
J&F gets the highest clip-mean logit (softmax cross-entropy towards softmax(J&F / tau), with an
L2 pull of weight lambda towards the trained values). With --class-head the last decoder layer's
class head weight is refitted too. Everything else is copied unchanged. Fit on a training split,
then evaluate on another.

Usage:
  deno task fit-choice --checkpoint <weights> --config <config.json> --data <root> --out <dir>
                       [--split train] [--lambda 1e-3] [--tau 0.05] [--steps 500] [--class-head]
                       [--save-samples <file>]
  deno task fit-choice --checkpoint <weights> --config <config.json> --samples <file> --out <dir>

Options:
  --checkpoint <path>   model.safetensors, a run or ckpt-* folder
  --config <file>       training config (uses its "model" and "inference") or a model config
  --data <root>         tree with meta_expressions/<split>/, <split>/JPEGImages, <split>/Annotations
  --split <name>        default train
  --out <dir>           writes <dir>/model.safetensors (float32) and <dir>/fit.json
  --lambda <x>          L2 pull towards the trained weights (default 1e-3)
  --tau <x>             temperature of the target over slots, in J&F (default 0.05)
  --steps <n>           full-batch AdamW steps (default 500, lr 0.01)
  --class-head          also refit the last class head's weight (models with one class)
  --save-samples <file> keep what the model run recorded (JSON lines) ...
  --samples <file>      ... and fit from it again without running the model (no --data needed;
                        same checkpoint and config)
  --limit <n>           only the first n expressions
  --short-side <px>     resize frames to this short side (default: config inference.shortSide)
  --tta <list>          test-time views as in deno task infer: hflip, reverse, both or none
                        (default: config inference.testTimeAugment)
  --clip-frames <n>     clip-wise inference as in deno task infer; 0 = off
                        (default: config inference.clipFrames)
  --relink-slots <on|off>  slots follow their objects' masks as in deno task infer (default: config
                        inference.relinkSlots)
  --backend <name>      cpu (default), native, webgpu, auto (for the model; the fit runs on cpu)
  --quiet               no progress lines
  -h, --help            this text

Example:
  deno task fit-choice --checkpoint runs/refine1 --config configs/ref_shapes_w32_refine1.json \\
    --data data/ref-shapes --out runs/refine1_fit --backend native
`;

export async function main(args: string[]): Promise<void> {
  const { values } = parseCli(args, {
    checkpoint: { type: "string" },
    config: { type: "string" },
    data: { type: "string" },
    split: { type: "string", default: "train" },
    out: { type: "string" },
    "class-head": { type: "boolean" },
    "save-samples": { type: "string" },
    samples: { type: "string" },
    lambda: { type: "string" },
    tau: { type: "string" },
    steps: { type: "string" },
    limit: { type: "string" },
    "short-side": { type: "string" },
    tta: { type: "string" },
    "clip-frames": { type: "string" },
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
  if (!values.data && !values.samples) {
    throw new CliError("--data (or --samples) is required (see --help)");
  }
  if (!values.out) throw new CliError("--out is required (see --help)");
  const lambda = nonNegativeNumber(values.lambda, "lambda") ?? 1e-3;
  const tau = nonNegativeNumber(values.tau, "tau") ?? 0.05;
  if (tau === 0) throw new CliError("--tau must be > 0");
  const steps = positiveInt(values.steps, "steps") ?? 500;
  const limit = positiveInt(values.limit, "limit");
  const flags = inferenceFlags(values);
  await mustExist(values.checkpoint, "checkpoint");
  if (values.config) await mustExist(values.config, "config file", "file");
  if (values.samples) await mustExist(values.samples, "samples file", "file");
  else {
    await mustExist(values.data!, "dataset root", "dir");
    await mustExist(
      `${values.data}/${values.split}/Annotations`,
      `ground truth of split ${values.split}`,
      "dir",
    );
  }
  const backend = await openBackend(values.backend!);
  const loaded = await loadModelForInference(values.checkpoint, values.config, backend);
  const term = loaded.model.class_geometry;
  if (!term) {
    throw new CliError(
      'the model has no class_geometry term: its config needs "classGeometry": true',
    );
  }
  const modelHead = await lastClassHead(loaded.model);
  const classHead = values["class-head"] ? modelHead : null;
  if (values["class-head"] && !classHead) {
    throw new CliError("--class-head needs a model with one class (numClasses 1)");
  }
  const samples = values.samples ? await loadChoiceSamples(values.samples) : await collect(
    loaded,
    values.data!,
    values.split!,
    limit,
    flags,
    values.quiet === true,
  );
  if (values.samples && modelHead) checkSamplesMatchHead(samples, modelHead, values.samples);
  if (values["save-samples"]) {
    await Deno.mkdir(dirname(values["save-samples"]), { recursive: true });
    await saveChoiceSamples(values["save-samples"], samples);
  }
  const start: ChoiceWeights = {
    weight: await term.weight.data(),
    bias: await term.bias.data(),
    ...(classHead ? { classWeight: classHead.weight, classBias: classHead.bias } : {}),
  };
  const fit = await fitChoiceTerm(samples, start, { lambda, tau, steps, classHead: !!classHead });
  const before = choiceJF(samples, start);
  const after = choiceJF(samples, { ...start, ...fit });
  const report = {
    source: values.checkpoint,
    samples: values.samples ?? `${values.data} ${values.split}`,
    classHead: !!classHead,
    expressions: samples.length,
    lambda,
    tau,
    steps,
    loss: { before: fit.lossBefore, after: fit.lossAfter },
    chosenJF: { before, after },
    bestSlotJF: samples.reduce((a, s) => a + Math.max(...s.jf), 0) / samples.length,
  };
  const f = (x: number) => x.toFixed(4);
  console.log(
    `${samples.length} expressions: loss ${f(fit.lossBefore)} -> ${f(fit.lossAfter)}, ` +
      `J&F of the chosen slot ${f(before)} -> ${f(after)} (best slot ${f(report.bestSlotJF)})`,
  );
  term.weight = param(tensor(fit.weight, term.weight.shape, { backend }));
  term.bias = param(tensor(fit.bias, term.bias.shape, { backend }));
  if (fit.classWeight) {
    const head = loaded.model.class_embed[loaded.model.class_embed.length - 1];
    head.weight = param(tensor(fit.classWeight, head.weight.shape, { backend }));
  }
  await Deno.mkdir(values.out, { recursive: true });
  const weightsPath = join(values.out, "model.safetensors");
  await saveModelWeights(loaded.model, weightsPath, {
    source: values.checkpoint,
    fitChoice: JSON.stringify(report),
  });
  await writeFileAtomic(
    join(values.out, "fit.json"),
    new TextEncoder().encode(JSON.stringify(report, null, 2) + "\n"),
  );
  console.log(`wrote ${weightsPath} and ${join(dirname(weightsPath), "fit.json")}`);
}

async function collect(
  loaded: LoadedModel,
  data: string,
  split: string,
  limit: number | undefined,
  flags: Partial<InferenceSettings>,
  quiet: boolean,
) {
  const settings = { ...loaded.setup.inference, ...flags };
  const jobs = await ytvosJobs(data, split);
  const started = performance.now();
  return await collectChoiceSamples(
    loaded,
    jobs.expressions,
    jobs.imageDir,
    `${data}/${split}/Annotations`,
    {
      shortSide: settings.shortSide,
      windowFrames: settings.windowFrames,
      testTimeAugment: settings.testTimeAugment,
      clipFrames: settings.clipFrames,
      relinkSlots: settings.relinkSlots,
      maxLength: loaded.setup.maxTextLength,
      limit,
      onProgress: (done, total, e) => {
        if (!quiet && (done % 50 === 0 || done === total)) {
          const s = (performance.now() - started) / 1000;
          const eta = (s / done) * (total - done);
          console.log(
            `${done}/${total} expressions (${e.video}/${e.expId}), ${s.toFixed(0)} s, ETA ${
              eta.toFixed(0)
            } s`,
          );
        }
      },
    },
  );
}

if (import.meta.main) await runCli("fit-choice", () => main(Deno.args));
