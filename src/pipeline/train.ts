/**
 * The training loop of `deno task train` (design doc §14): datasets from the config,
 * AdamW with the reference's parameter groups, gradient clipping, MultiStepLR per epoch,
 * JSONL logs, periodic checkpoints and exact resumption.
 *
 * Exactness: sample order depends only on (seed, epoch), augmentation only on (seed, epoch,
 * index), dropout on the default generator (saved in every checkpoint), and the optimizer
 * moments are saved bit for bit, so a resumed run reproduces an uninterrupted one exactly on
 * a deterministic backend (cpu).
 */
import { tidyAsync } from "../tensor/memory.ts";
import { join } from "node:path";
import type { Backend } from "../backend/backend.ts";
import { defaultGenerator, manualSeed } from "../tensor/random.ts";
import { DMFormer } from "../models/dmformer/model.ts";
import {
  CHOICE_LOSS,
  DEFAULT_WEIGHTS,
  GROUNDING_AUX_LOSS,
  SetCriterion,
} from "../models/dmformer/criterion.ts";
import { AdamW, type ParamGroup } from "../optim/adamw.ts";
import { MultiStepLR } from "../optim/schedule.ts";
import { clipGradNorm } from "../optim/clip.ts";
import {
  AugmentedDataset,
  ConcatDataset,
  type Dataset,
  openRefCoco,
  openRefDavis,
  openRefYtvos,
  REFCOCO_TRAIN_AUGMENT,
  scaleAugment,
  SeededSampler,
  SubjectLabeler,
  YTVOS_TRAIN_AUGMENT,
} from "../data/mod.ts";
import type { DavisSplit, YtvosSplit } from "../data/mod.ts";
import { BertTokenizer } from "../text/bert_tokenizer.ts";
import { prepareBatch, type PreparedBatch } from "./batch.ts";
import type { DatasetSpec, TrainConfig } from "./train_config.ts";
import {
  describeReport,
  loadCheckpoint,
  loadOptimizerState,
  loadWeightsInto,
  saveCheckpoint,
  type TrainState,
} from "./checkpoint.ts";
import { Progress } from "./progress.ts";

/** Opens one dataset of the config (Ref-Shapes uses its generator's exact subject spans). */
export async function openDataset(spec: DatasetSpec, numFrames: number, seed: number) {
  const labelPaths = [...(spec.subjectLabels ?? [])];
  if (spec.type === "ref-shapes") {
    const split = spec.split ?? "train";
    labelPaths.unshift(`${spec.root}/meta_expressions/${split}/subject_spans.json`);
  }
  const labeler = await SubjectLabeler.load(labelPaths);
  switch (spec.type) {
    case "ref-shapes":
    case "ytvos":
      return await openRefYtvos(spec.root, {
        split: (spec.split ?? "train") as YtvosSplit,
        numFrames,
        seed,
        labeler,
      });
    case "davis":
      return await openRefDavis(spec.root, {
        split: (spec.split ?? "train") as DavisSplit,
        numFrames,
        seed,
        labeler,
      });
    case "refcoco":
      return await openRefCoco({
        instances: spec.instances,
        refs: spec.refs,
        imageDir: spec.imageDir,
        split: spec.split,
        name: spec.name,
        numFrames: 1,
        labeler,
      });
  }
}

/** The concatenation of the config's datasets, augmented as the config says. */
export async function openTrainingData(config: TrainConfig): Promise<AugmentedDataset> {
  const parts: Dataset[] = [];
  for (const spec of config.datasets) {
    parts.push(await openDataset(spec, config.model.numFrames, config.seed));
  }
  const base = config.augment.preset === "refcoco" ? REFCOCO_TRAIN_AUGMENT : YTVOS_TRAIN_AUGMENT;
  const augment = {
    ...scaleAugment(base, config.augment.scale),
    photometric: config.augment.photometric,
  };
  const dataset = parts.length === 1 ? parts[0] : new ConcatDataset(parts);
  if (dataset.length === 0) throw new Error("the training datasets have no samples");
  return new AugmentedDataset(dataset, { seed: config.seed, config: augment });
}

/**
 * The reference's parameter groups (design doc §14.1) over trainable parameters, by name:
 * "backbone.0" -> backbone lr, "text_encoder" -> text lr, "reference_points" or
 * "sampling_offsets" -> rest lr x linearProjMult, everything else -> rest lr. A model with the
 * `classGeometry` option gets a fifth group, "class_geometry" -> rest lr x classGeometryMult.
 */
export function parameterGroups(model: DMFormer, config: TrainConfig): ParamGroup[] {
  const { lr, weightDecay } = config.schedule;
  const groups: ParamGroup[] = [
    { name: "backbone", lr: lr.backbone, params: [], names: [], weightDecay },
    { name: "text_encoder", lr: lr.textEncoder, params: [], names: [], weightDecay },
    { name: "linear_proj", lr: lr.rest * lr.linearProjMult, params: [], names: [], weightDecay },
    { name: "rest", lr: lr.rest, params: [], names: [], weightDecay },
  ];
  if (model.class_geometry) {
    const geometryLr = lr.rest * (lr.classGeometryMult ?? 1);
    groups.push({ name: "class_geometry", lr: geometryLr, params: [], names: [], weightDecay });
  }
  for (const [name, p] of model.namedParameters()) {
    if (!p.requiresGrad) continue;
    const g = name.startsWith("class_geometry.")
      ? 4
      : name.includes("backbone.0")
      ? 0
      : name.includes("text_encoder")
      ? 1
      : name.includes("reference_points") || name.includes("sampling_offsets")
      ? 2
      : 3;
    groups[g].params.push(p);
    groups[g].names!.push(name);
  }
  return groups;
}

/**
 * The criterion of a config: its loss weights (or the reference's) plus the weights of the recipe
 * options (grounding, query choice) where they are set.
 */
export function makeCriterion(config: TrainConfig): SetCriterion {
  const options: Record<string, number> = {};
  if (config.groundingAuxWeight > 0) options[GROUNDING_AUX_LOSS] = config.groundingAuxWeight;
  if (config.choiceLossWeight > 0) options[CHOICE_LOSS] = config.choiceLossWeight;
  const weights = config.lossWeights ?? DEFAULT_WEIGHTS;
  return new SetCriterion({
    numClasses: config.model.numClasses,
    maskOutStride: config.model.maskOutStride,
    weights: Object.keys(options).length > 0 ? { ...weights, ...options } : weights,
  });
}

export interface StepResult {
  total: number;
  losses: Record<string, number>;
  gradNorm: number;
}

/**
 * One optimisation step: forward, losses, backward, clipping, AdamW update. Every
 * intermediate tensor is freed when the step ends (GPU memory stays flat).
 */
export function trainStep(
  model: DMFormer,
  criterion: SetCriterion,
  optimizer: AdamW,
  batch: PreparedBatch,
  clipMaxNorm: number,
): Promise<StepResult> {
  model.train();
  return tidyAsync(async () => {
    const out = await model.forward(batch.video, batch.captions, batch.sizes);
    const result = await criterion.forward(out, batch.targets, batch.subjectLabels);
    result.total.backward();
    const params = optimizer.groups.flatMap((g) => g.params);
    const gradNorm = await clipGradNorm(params, clipMaxNorm > 0 ? clipMaxNorm : Infinity);
    optimizer.step();
    optimizer.zeroGrad();
    // all readbacks in flight together: one wait instead of one per loss term
    const entries = [...result.losses];
    const [total, ...values] = await Promise.all([
      result.total.item(),
      ...entries.map(([, v]) => v.item()),
    ]);
    const losses = Object.fromEntries(entries.map(([k], i) => [k, values[i]]));
    return { total, losses, gradNorm };
  });
}

/** lr = initial x gamma^(epoch milestones passed + step milestones passed). */
function applyStepDrops(opt: AdamW, sched: MultiStepLR, config: TrainConfig, step: number) {
  const { lrDrop, lrDropSteps, lrGamma } = config.schedule;
  if (lrDropSteps.length === 0) return;
  const passed = lrDrop.filter((m) => m <= sched.epoch).length +
    lrDropSteps.filter((m) => m <= step).length;
  for (const g of opt.groups) g.lr = g.initialLr * lrGamma ** passed;
}

export interface TrainOptions {
  backend: Backend;
  /** Resume from a run or checkpoint directory. */
  resume?: string;
  /** Stop (with a checkpoint) once this many steps are done in total: an interruption. */
  stopAtStep?: number;
  /** Print progress (default true). */
  quiet?: boolean;
  /** Output stream for progress (default stderr). */
  write?: (s: string) => void;
  isTty?: boolean;
  /** Override the config's run directory. */
  runDir?: string;
}

export interface TrainResult {
  model: DMFormer;
  state: TrainState;
  runDir: string;
  lastCheckpoint: string | null;
  /** Total loss per step run in this invocation. */
  history: number[];
}

/** Runs (or resumes) a training run as the config describes. */
export async function train(config: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const runDir = opts.runDir ?? config.runDir;
  const write = opts.write ?? ((s: string) => Deno.stderr.writeSync(new TextEncoder().encode(s)));
  const say = (s: string) => {
    if (!opts.quiet) write(s + "\n");
  };
  manualSeed(config.seed);
  const model = new DMFormer(config.model);
  await model.to(opts.backend);
  if (config.init && !opts.resume) {
    const report = await loadWeightsInto(model, config.init.path, {
      strict: config.init.strict,
      skip: config.init.skip,
    });
    const bad = report.missing.length + report.unexpected.length + report.mismatched.length;
    say(`init: loaded ${config.init.path}${bad ? ` (${describeReport(report)})` : ""}`);
  }
  // weights first, then the optimizer over the (loaded) parameters
  const loaded = opts.resume ? await loadCheckpoint(opts.resume, model, null) : null;
  const optimizer = new AdamW(parameterGroups(model, config), {
    weightDecay: config.schedule.weightDecay,
  });
  const scheduler = new MultiStepLR(optimizer, config.schedule.lrDrop, config.schedule.lrGamma);
  let state: TrainState = {
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    schedulerEpoch: 0,
    rng: defaultGenerator.state(),
  };
  if (loaded) {
    await loadOptimizerState(loaded.dir, optimizer, loaded.state);
    state = {
      step: loaded.state.step,
      epoch: loaded.state.epoch,
      batchInEpoch: loaded.state.batchInEpoch,
      schedulerEpoch: loaded.state.schedulerEpoch,
      rng: loaded.state.rng,
    };
    scheduler.epoch = state.schedulerEpoch;
    defaultGenerator.setState(state.rng);
    say(
      `resumed from ${loaded.dir} at step ${state.step} (epoch ${state.epoch}, batch ${state.batchInEpoch})`,
    );
  }
  const data = await openTrainingData(config);
  const tokenizer = await BertTokenizer.load();
  if (tokenizer.vocabSize > config.model.text.vocabSize) {
    throw new Error(
      `the tokenizer has ${tokenizer.vocabSize} tokens but the model's text encoder only ` +
        `${config.model.text.vocabSize} (set model.text.vocabSize to ${tokenizer.vocabSize})`,
    );
  }
  const criterion = makeCriterion(config);
  const sampler = new SeededSampler(data.length, {
    seed: config.seed,
    batchSize: config.batchSize,
    dropLast: true,
  });
  const perEpoch = sampler.batchesPerEpoch;
  if (perEpoch === 0) throw new Error(`fewer samples (${data.length}) than one batch`);
  const totalSteps = Math.min(
    config.schedule.maxSteps ?? Infinity,
    config.schedule.epochs * perEpoch,
  );
  await Deno.mkdir(runDir, { recursive: true });
  await Deno.writeTextFile(
    join(runDir, "config.json"),
    JSON.stringify({ ...config, model: config.model }, null, 1) + "\n",
  );
  const log = await Deno.open(join(runDir, "log.jsonl"), { append: true, create: true });
  const enc = new TextEncoder();
  const params = model.parameters().filter((p) => p.requiresGrad).reduce((s, p) => s + p.size, 0);
  say(
    `training ${params.toLocaleString("en")} parameters on ${opts.backend.name}: ` +
      `${data.length} samples, ${perEpoch} steps/epoch, ${totalSteps} steps, run dir ${runDir}`,
  );
  const progress = new Progress(totalSteps, state.step, {
    write,
    isTty: opts.isTty ?? Deno.stderr.isTerminal(),
    every: config.log.everySteps,
    quiet: opts.quiet,
  });
  const history: number[] = [];
  let lastCheckpoint = null as string | null;
  const sources = new Map<string, number>();
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  try {
    Deno.addSignalListener("SIGINT", onSignal);
  } catch { /* not supported here */ }
  const snapshot = (): TrainState => ({
    ...state,
    rng: defaultGenerator.state(),
    config: { modelSpec: config.modelSpec, model: config.model },
    savedAt: new Date().toISOString(),
  });
  const checkpoint = async () => {
    lastCheckpoint = await saveCheckpoint(runDir, model, optimizer, snapshot());
  };
  try {
    outer: while (state.epoch < config.schedule.epochs && state.step < totalSteps) {
      const batches = sampler.batches(state.epoch);
      while (state.batchInEpoch < batches.length) {
        if (state.step >= totalSteps) break outer;
        if (opts.stopAtStep !== undefined && state.step >= opts.stopAtStep) {
          await checkpoint();
          say(`stopped at step ${state.step}; checkpoint ${lastCheckpoint}`);
          break outer;
        }
        if (interrupted) {
          await checkpoint();
          say(`\ninterrupted at step ${state.step}; checkpoint ${lastCheckpoint}`);
          break outer;
        }
        const started = performance.now();
        const indices = batches[state.batchInEpoch];
        const clips = [];
        for (const i of indices) clips.push(await data.get(i, state.epoch));
        const batch = await prepareBatch(clips, tokenizer, opts.backend, {
          maxLength: config.maxTextLength,
          onSubjectSource: (s) => sources.set(s, (sources.get(s) ?? 0) + 1),
        });
        const result = await trainStep(
          model,
          criterion,
          optimizer,
          batch,
          config.schedule.clipMaxNorm,
        );
        if (!Number.isFinite(result.total)) {
          throw new Error(`loss became ${result.total} at step ${state.step}`);
        }
        state.step++;
        state.batchInEpoch++;
        applyStepDrops(optimizer, scheduler, config, state.step);
        history.push(result.total);
        const seconds = (performance.now() - started) / 1000;
        const lr = Object.fromEntries(
          optimizer.groups.filter((g) => g.params.length).map((g) => [g.name, g.lr]),
        );
        const entry = {
          step: state.step,
          epoch: state.epoch,
          loss: result.total,
          losses: result.losses,
          grad_norm: result.gradNorm,
          lr,
          seconds,
          subject_sources: Object.fromEntries(sources),
        };
        await log.write(enc.encode(JSON.stringify(entry) + "\n"));
        progress.update(state.step, result.total, result.losses, state.epoch);
        if (config.checkpoint.everySteps > 0 && state.step % config.checkpoint.everySteps === 0) {
          await checkpoint();
        }
      }
      if (state.batchInEpoch >= batches.length) {
        state.epoch++;
        state.batchInEpoch = 0;
        scheduler.step();
        state.schedulerEpoch = scheduler.epoch;
        applyStepDrops(optimizer, scheduler, config, state.step);
        await checkpoint();
        say(`\nepoch ${state.epoch} done (step ${state.step}); checkpoint ${lastCheckpoint}`);
      }
    }
    if (
      state.step >= totalSteps && !lastCheckpoint?.endsWith(String(state.step).padStart(7, "0"))
    ) {
      await checkpoint();
    }
  } finally {
    progress.done();
    log.close();
    try {
      Deno.removeSignalListener("SIGINT", onSignal);
    } catch { /* ignore */ }
  }
  return {
    model,
    state: { ...state, rng: defaultGenerator.state() },
    runDir,
    lastCheckpoint,
    history,
  };
}
