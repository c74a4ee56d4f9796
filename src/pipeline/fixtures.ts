/**
 * Small, fast set-ups for tests and smoke checks: a generated Ref-Shapes tree and a training
 * config for a tiny DMFormer that trains in well under a second per step on the cpu backend.
 */
import { join } from "node:path";
import { writeRefShapesDataset } from "../data/ref_shapes_writer.ts";

/** The model spec of the test set-ups (tiny widths, the real BERT vocabulary). */
export const TEST_MODEL_SPEC = {
  base: "tiny",
  numFrames: 2,
  hiddenDim: 32,
  dimFeedforward: 32,
  maskDim: 16,
  interactionIntermediate: 32,
  text: {
    vocabSize: 30522,
    hiddenSize: 16,
    numAttentionHeads: 2,
    intermediateSize: 32,
    numHiddenLayers: 1,
    maxPositionEmbeddings: 48,
    maxLength: 32,
  },
};

export interface TinySetup {
  root: string;
  data: string;
  configPath: string;
  runDir: string;
  // deno-lint-ignore no-explicit-any
  config: any;
}

/**
 * Writes a Ref-Shapes dataset (`videos` train videos, 2 valid) of 48x48 frames and a training
 * config into `root`. `overrides` merge into the config's top level.
 */
export async function makeTinySetup(
  root: string,
  options: { videos?: number; frames?: number; overrides?: Record<string, unknown> } = {},
): Promise<TinySetup> {
  const data = join(root, "ref-shapes");
  await writeRefShapesDataset({
    out: data,
    trainVideos: options.videos ?? 3,
    validVideos: 2,
    frames: options.frames ?? 4,
    height: 48,
    width: 48,
    seed: 7,
    format: "png",
  });
  const runDir = join(root, "run");
  const config = {
    model: TEST_MODEL_SPEC,
    datasets: [{ type: "ref-shapes", root: data }],
    augment: { scale: 0.12, photometric: true },
    batchSize: 1,
    seed: 3,
    schedule: {
      epochs: 2,
      lrDrop: [1],
      lr: { backbone: 1e-4, textEncoder: 1e-4, rest: 1e-4, linearProjMult: 1 },
    },
    checkpoint: { everySteps: 0 },
    log: { everySteps: 1 },
    maxTextLength: 32,
    runDir,
    inference: { shortSide: 48, windowFrames: 3 },
    ...options.overrides,
  };
  const configPath = join(root, "train.json");
  await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2));
  return { root, data, configPath, runDir, config };
}
