/**
 * The training configuration file (JSON) of `deno task train`:
 *
 * {
 *   "model": "tiny" | {"base": "tiny", "hiddenDim": 64, ...},   // see models/dmformer/config.ts
 *   "datasets": [
 *     {"type": "ref-shapes", "root": "data/ref-shapes"},
 *     {"type": "ytvos", "root": "data/ref-youtube-vos", "subjectLabels": ["labels.json"]},
 *     {"type": "davis", "root": "data/ref-davis"},
 *     {"type": "refcoco", "instances": "...", "refs": "...", "imageDir": "...", "name": "refcoco"}
 *   ],
 *   "augment": {"scale": 0.25, "photometric": true, "preset": "ytvos" | "refcoco"},
 *   "batchSize": 1, "seed": 42,
 *   "schedule": {
 *     "epochs": 6, "maxSteps": null, "lrDrop": [3, 5], "lrDropSteps": [], "lrGamma": 0.1,
 *     "lr": {"backbone": 5e-5, "textEncoder": 1e-5, "rest": 1e-4, "linearProjMult": 1.0},
 *     "weightDecay": 5e-4, "clipMaxNorm": 0.1
 *   },
 *   "freeze": {"backbone": false, "textEncoder": false},
 *   "init": {"path": "pretrained.pth", "skip": ["class_embed."], "strict": false},
 *   "checkpoint": {"everySteps": 500},
 *   "log": {"everySteps": 10},
 *   "lossWeights": {"loss_ce": 2, ...},
 *   "groundingAuxWeight": 0,        // > 0 needs "groundingAuxHead": true in "model"
 *   "choiceLossWeight": 0,          // > 0 adds loss_choice (criterion.ts queryChoiceLoss)
 *   "maxTextLength": 32,
 *   "runDir": "runs/demo",
 *   "inference": {"shortSide": 360, "windowFrames": 36}
 * }
 *
 * Every field but "datasets" has a default (the reference's recipe, design doc §14).
 * Relative paths are relative to the working directory (run from the repository root).
 */
import { isAbsolute, join } from "node:path";
import { type DMFormerConfig, resolveConfig } from "../models/dmformer/config.ts";
import { CHOICE_LOSS, GROUNDING_AUX_LOSS } from "../models/dmformer/criterion.ts";
import { parseViewTransforms, type ViewTransform } from "./test_time_views.ts";
import { maskCrfChoice, type MaskCrfSettings } from "./mask_crf.ts";
import { relinkChoice, type RelinkSettings } from "./relink_slots.ts";

/** The "inference" section: what infer, query-report, the demo and the library default to. */
export type InferenceSettings = TrainConfig["inference"];

export type DatasetSpec =
  | { type: "ref-shapes" | "ytvos"; root: string; split?: string; subjectLabels?: string[] }
  | { type: "davis"; root: string; split?: string; subjectLabels?: string[] }
  | {
    type: "refcoco";
    instances: string;
    refs?: string;
    imageDir: string;
    split?: string;
    name?: string;
    subjectLabels?: string[];
  };

export interface TrainConfig {
  model: DMFormerConfig;
  /** The model spec as written (for state.json and inference). */
  modelSpec: unknown;
  datasets: DatasetSpec[];
  augment: { scale: number; photometric: boolean; preset: "ytvos" | "refcoco" };
  batchSize: number;
  seed: number;
  schedule: {
    epochs: number;
    maxSteps: number | null;
    lrDrop: number[];
    /** Extra lr drops after these optimizer steps (for short runs inside one epoch). */
    lrDropSteps: number[];
    lrGamma: number;
    lr: {
      backbone: number;
      textEncoder: number;
      rest: number;
      linearProjMult: number;
      /** The `classGeometry` term's lr is rest x this (not in the reference; default 1). */
      classGeometryMult?: number;
    };
    weightDecay: number;
    clipMaxNorm: number;
  };
  freeze: { backbone: boolean; textEncoder: boolean };
  init: { path: string; skip: string[]; strict: boolean } | null;
  checkpoint: { everySteps: number };
  log: { everySteps: number };
  lossWeights: Record<string, number> | null;
  /**
   * Weight of the auxiliary grounding loss (`loss_grounding_aux`, not in the reference; 0 =
   * off). Needs the model's `groundingAuxHead`.
   */
  groundingAuxWeight: number;
  /**
   * Weight of the query-choice loss (`loss_choice`, not in the reference; 0 = off): a softmax
   * cross-entropy over the queries' clip-mean class logits towards the matched query, on every
   * decoder layer.
   */
  choiceLossWeight: number;
  maxTextLength: number;
  runDir: string;
  /**
   * Inference settings: frame short side (reference 360), frames per forward pass and the
   * test-time views (none by default; src/pipeline/test_time_views.ts).
   */
  inference: {
    shortSide: number;
    windowFrames: number;
    testTimeAugment: ViewTransform[];
    /** Clips of this many frames with a whole-window anchor pass (0 = off; segment.ts). */
    clipFrames: number;
    /** Edge-aware refinement of the chosen masks (null = off; mask_crf.ts). */
    maskCrf: MaskCrfSettings | null;
    /** Slots follow their objects' masks from frame to frame (null = off; relink_slots.ts). */
    relinkSlots: RelinkSettings | null;
  };
}

const TOP_KEYS = [
  "model",
  "datasets",
  "augment",
  "batchSize",
  "seed",
  "schedule",
  "freeze",
  "init",
  "checkpoint",
  "log",
  "lossWeights",
  "groundingAuxWeight",
  "choiceLossWeight",
  "maxTextLength",
  "runDir",
  "inference",
  "comment",
];

// deno-lint-ignore no-explicit-any
type Json = any;

function fail(where: string, message: string): never {
  throw new Error(`${where}: ${message}`);
}

function checkKeys(obj: Json, allowed: string[], where: string) {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    fail(where, "expected an object");
  }
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) fail(where, `unknown key "${k}" (known: ${allowed.join(", ")})`);
  }
}

function num(v: unknown, where: string, def: number, opts: { int?: boolean; min?: number } = {}) {
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isFinite(v)) fail(where, `expected a number, got ${v}`);
  if (opts.int && !Number.isInteger(v)) fail(where, `expected an integer, got ${v}`);
  if (opts.min !== undefined && v < opts.min) fail(where, `must be >= ${opts.min}, got ${v}`);
  return v;
}

function bool(v: unknown, where: string, def: boolean) {
  if (v === undefined) return def;
  if (typeof v !== "boolean") fail(where, `expected true or false, got ${v}`);
  return v;
}

function intList(v: unknown, where: string): number[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x))) {
    fail(where, "expected a list of integers");
  }
  return v as number[];
}

/**
 * The optional "inference" section ({"shortSide": 360, "windowFrames": 36, "testTimeAugment":
 * [], "clipFrames": 0, "maskCrf": false, "relinkSlots": false}; "testTimeAugment" lists "hflip"
 * and/or "reverse"; "maskCrf" and "relinkSlots" are true for the default settings or an object of
 * settings).
 */
export function parseInference(v: Json, where: string): TrainConfig["inference"] {
  const i = v ?? {};
  checkKeys(
    i,
    ["shortSide", "windowFrames", "testTimeAugment", "clipFrames", "maskCrf", "relinkSlots"],
    where,
  );
  return {
    shortSide: num(i.shortSide, `${where}.shortSide`, 360, { int: true, min: 8 }),
    windowFrames: num(i.windowFrames, `${where}.windowFrames`, 36, { int: true, min: 1 }),
    testTimeAugment: i.testTimeAugment === undefined
      ? []
      : parseViewTransforms(i.testTimeAugment, `${where}.testTimeAugment`),
    clipFrames: num(i.clipFrames, `${where}.clipFrames`, 0, { int: true, min: 0 }),
    maskCrf: maskCrfChoice(i.maskCrf, `${where}.maskCrf`),
    relinkSlots: relinkChoice(i.relinkSlots, `${where}.relinkSlots`),
  };
}

/** Validates a parsed config; `baseDir` resolves relative paths; `where` names the file. */
export function parseTrainConfig(json: Json, baseDir: string, where: string): TrainConfig {
  checkKeys(json, TOP_KEYS, where);
  const path = (p: unknown, at: string) => {
    if (typeof p !== "string" || p === "") fail(`${where}: ${at}`, "expected a path");
    return isAbsolute(p) || baseDir === "" ? p : join(baseDir, p);
  };
  let model: DMFormerConfig;
  try {
    model = resolveConfig(json.model ?? "tiny");
  } catch (e) {
    fail(`${where}: model`, (e as Error).message);
  }
  if (!Array.isArray(json.datasets) || json.datasets.length === 0) {
    fail(where, `"datasets" must be a non-empty list`);
  }
  const datasets: DatasetSpec[] = json.datasets.map((d: Json, i: number) => {
    const at = `${where}: datasets[${i}]`;
    if (typeof d !== "object" || d === null) fail(at, "expected an object");
    const labels = d.subjectLabels === undefined
      ? undefined
      : (Array.isArray(d.subjectLabels)
        ? d.subjectLabels.map((p: unknown) => path(p, `datasets[${i}].subjectLabels`))
        : fail(at, "subjectLabels must be a list of paths"));
    switch (d.type) {
      case "ref-shapes":
      case "ytvos":
      case "davis":
        checkKeys(d, ["type", "root", "split", "subjectLabels"], at);
        return {
          type: d.type,
          root: path(d.root, `datasets[${i}].root`),
          split: d.split,
          subjectLabels: labels,
        };
      case "refcoco":
        checkKeys(
          d,
          ["type", "instances", "refs", "imageDir", "split", "name", "subjectLabels"],
          at,
        );
        return {
          type: "refcoco",
          instances: path(d.instances, `datasets[${i}].instances`),
          refs: d.refs === undefined ? undefined : path(d.refs, `datasets[${i}].refs`),
          imageDir: path(d.imageDir, `datasets[${i}].imageDir`),
          split: d.split,
          name: d.name,
          subjectLabels: labels,
        };
      default:
        fail(at, `unknown dataset type "${d.type}" (known: ref-shapes, ytvos, davis, refcoco)`);
    }
  });
  const aug = json.augment ?? {};
  checkKeys(aug, ["scale", "photometric", "preset"], `${where}: augment`);
  const preset = aug.preset ?? (datasets.every((d) => d.type === "refcoco") ? "refcoco" : "ytvos");
  if (preset !== "ytvos" && preset !== "refcoco") {
    fail(`${where}: augment.preset`, `expected "ytvos" or "refcoco", got "${preset}"`);
  }
  const s = json.schedule ?? {};
  checkKeys(
    s,
    ["epochs", "maxSteps", "lrDrop", "lrDropSteps", "lrGamma", "lr", "weightDecay", "clipMaxNorm"],
    `${where}: schedule`,
  );
  const lr = s.lr ?? {};
  checkKeys(
    lr,
    ["backbone", "textEncoder", "rest", "linearProjMult", "classGeometryMult"],
    `${where}: schedule.lr`,
  );
  const lrDrop = s.lrDrop ?? [3, 5];
  if (!Array.isArray(lrDrop) || lrDrop.some((v: unknown) => !Number.isInteger(v))) {
    fail(`${where}: schedule.lrDrop`, "expected a list of epoch numbers");
  }
  const freeze = json.freeze ?? {};
  checkKeys(freeze, ["backbone", "textEncoder"], `${where}: freeze`);
  let init: TrainConfig["init"] = null;
  if (json.init !== undefined && json.init !== null) {
    const i = typeof json.init === "string" ? { path: json.init } : json.init;
    checkKeys(i, ["path", "skip", "strict"], `${where}: init`);
    init = {
      path: path(i.path, "init.path"),
      skip: i.skip ?? [],
      strict: bool(i.strict, `${where}: init.strict`, false),
    };
  }
  const ck = json.checkpoint ?? {};
  checkKeys(ck, ["everySteps"], `${where}: checkpoint`);
  const log = json.log ?? {};
  checkKeys(log, ["everySteps"], `${where}: log`);
  const fb = bool(freeze.backbone, `${where}: freeze.backbone`, model.freezeBackbone);
  const ft = bool(freeze.textEncoder, `${where}: freeze.textEncoder`, model.freezeTextEncoder);
  model.freezeBackbone = fb;
  model.freezeTextEncoder = ft;
  const groundingAuxWeight = num(json.groundingAuxWeight, `${where}: groundingAuxWeight`, 0, {
    min: 0,
  });
  if (groundingAuxWeight > 0 && !model.groundingAuxHead) {
    fail(
      `${where}: groundingAuxWeight`,
      `${groundingAuxWeight} needs the head it trains: set "groundingAuxHead": true in "model"`,
    );
  }
  if (lr.classGeometryMult !== undefined && lr.classGeometryMult !== 1 && !model.classGeometry) {
    fail(
      `${where}: schedule.lr.classGeometryMult`,
      `${lr.classGeometryMult} needs the term it scales: set "classGeometry": true in "model"`,
    );
  }
  const choiceLossWeight = num(json.choiceLossWeight, `${where}: choiceLossWeight`, 0, { min: 0 });
  const optionKeys: [string, string][] = [
    [GROUNDING_AUX_LOSS, 'the auxiliary grounding weight with "groundingAuxWeight"'],
    [CHOICE_LOSS, 'the query-choice weight with "choiceLossWeight"'],
  ];
  const lossWeights = typeof json.lossWeights === "object" && json.lossWeights
    ? json.lossWeights
    : {};
  for (const [key, instead] of optionKeys) {
    if (key in lossWeights) fail(`${where}: lossWeights.${key}`, `set ${instead} instead`);
  }
  const maxSteps = s.maxSteps === undefined || s.maxSteps === null
    ? null
    : num(s.maxSteps, `${where}: schedule.maxSteps`, 0, { int: true, min: 1 });
  return {
    model,
    modelSpec: json.model ?? "tiny",
    datasets,
    augment: {
      scale: num(aug.scale, `${where}: augment.scale`, 1, { min: 0.01 }),
      photometric: bool(aug.photometric, `${where}: augment.photometric`, preset === "ytvos"),
      preset,
    },
    batchSize: num(json.batchSize, `${where}: batchSize`, 1, { int: true, min: 1 }),
    seed: num(json.seed, `${where}: seed`, 42, { int: true, min: 0 }),
    schedule: {
      epochs: num(s.epochs, `${where}: schedule.epochs`, 6, { int: true, min: 1 }),
      maxSteps,
      lrDrop,
      lrDropSteps: intList(s.lrDropSteps, `${where}: schedule.lrDropSteps`),
      lrGamma: num(s.lrGamma, `${where}: schedule.lrGamma`, 0.1, { min: 0 }),
      lr: {
        backbone: num(lr.backbone, `${where}: schedule.lr.backbone`, 5e-5, { min: 0 }),
        textEncoder: num(lr.textEncoder, `${where}: schedule.lr.textEncoder`, 1e-5, { min: 0 }),
        rest: num(lr.rest, `${where}: schedule.lr.rest`, 1e-4, { min: 0 }),
        linearProjMult: num(lr.linearProjMult, `${where}: schedule.lr.linearProjMult`, 1, {
          min: 0,
        }),
        classGeometryMult: num(
          lr.classGeometryMult,
          `${where}: schedule.lr.classGeometryMult`,
          1,
          { min: 0 },
        ),
      },
      weightDecay: num(s.weightDecay, `${where}: schedule.weightDecay`, 5e-4, { min: 0 }),
      clipMaxNorm: num(s.clipMaxNorm, `${where}: schedule.clipMaxNorm`, 0.1, { min: 0 }),
    },
    freeze: { backbone: fb, textEncoder: ft },
    init,
    checkpoint: {
      everySteps: num(ck.everySteps, `${where}: checkpoint.everySteps`, 0, { int: true, min: 0 }),
    },
    log: { everySteps: num(log.everySteps, `${where}: log.everySteps`, 10, { int: true, min: 1 }) },
    lossWeights: json.lossWeights ?? null,
    groundingAuxWeight,
    choiceLossWeight,
    maxTextLength: num(
      json.maxTextLength,
      `${where}: maxTextLength`,
      Math.min(model.text.maxLength, model.text.maxPositionEmbeddings),
      { int: true, min: 2 },
    ),
    runDir: json.runDir ? path(json.runDir, "runDir") : "runs/train",
    inference: parseInference(json.inference, `${where}: inference`),
  };
}

/** Reads and validates a training config file. */
export async function loadTrainConfig(file: string): Promise<TrainConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`config file not found: ${file}`);
    throw new Error(`cannot read config ${file}: ${(e as Error).message}`);
  }
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`config ${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseTrainConfig(json, "", file);
}
