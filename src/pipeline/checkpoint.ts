/**
 * Training checkpoints: a directory per checkpoint inside a run directory,
 *
 *   <run>/ckpt-<step>/model.safetensors       model state dict (reference key names)
 *   <run>/ckpt-<step>/optimizer.safetensors   AdamW moments "<param>.exp_avg[_sq]"
 *   <run>/ckpt-<step>/state.json              step, epoch, batch, RNG state, lrs, config
 *   <run>/latest.json                         {"checkpoint": "ckpt-<step>"}
 *
 * A checkpoint is written into a temporary directory that is renamed into place, and
 * latest.json is replaced atomically afterwards, so an interrupted save never leaves a
 * half-written checkpoint behind. Official .pth checkpoints load through extractStateDict.
 */
import { basename, join } from "node:path";
import type { Tensor } from "../tensor/tensor.ts";
import type { Module } from "../nn/module.ts";
import type { AdamW } from "../optim/adamw.ts";
import { tensor } from "../ops/creation.ts";
import { type EncodeOptions, loadSafetensors, saveSafetensors } from "../io/safetensors.ts";
import type { RawTensor } from "../io/raw_tensor.ts";
import { extractStateDict, loadPth } from "../io/pth.ts";
import { writeFileAtomic } from "../io/atomic_write.ts";
import { describeReport, type LoadReport } from "../nn/module.ts";

export interface TrainState {
  /** Optimizer steps done. */
  step: number;
  /** Epoch in progress and the number of its batches already done. */
  epoch: number;
  batchInEpoch: number;
  /** Epochs the lr scheduler has seen. */
  schedulerEpoch: number;
  /** The default generator (dropout, drop path) state. */
  rng: { seed: number; offset: number };
  /** Any extra JSON (training config, timestamps). */
  [key: string]: unknown;
}

async function toRaw(tensors: Map<string, Tensor>): Promise<Map<string, RawTensor>> {
  const out = new Map<string, RawTensor>();
  for (const [k, t] of tensors) {
    out.set(k, { dtype: t.dtype, shape: [...t.shape], data: await t.data() } as RawTensor);
  }
  return out;
}

/**
 * Saves a model's state dict, or the entries whose keys `options.keep` accepts, to a safetensors
 * file (atomic; `options.halfFloats` stores float weights as F16). Returns the number of tensors
 * written.
 */
export async function saveModelWeights(
  model: Module,
  path: string,
  metadata?: Record<string, string>,
  options: EncodeOptions & { keep?: (key: string) => boolean } = {},
): Promise<number> {
  const keep = options.keep ?? (() => true);
  const kept = new Map([...model.stateDict()].filter(([key]) => keep(key)));
  await saveSafetensors(path, await toRaw(kept), metadata, { halfFloats: options.halfFloats });
  return kept.size;
}

/** Writes one checkpoint; returns its directory. */
export async function saveCheckpoint(
  runDir: string,
  model: Module,
  optimizer: AdamW | null,
  state: TrainState,
): Promise<string> {
  await Deno.mkdir(runDir, { recursive: true });
  const name = `ckpt-${String(state.step).padStart(7, "0")}`;
  const final = join(runDir, name);
  const temp = join(runDir, `.${name}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  await Deno.mkdir(temp);
  try {
    await saveModelWeights(model, join(temp, "model.safetensors"));
    let optimizerMeta: Record<string, unknown> | null = null;
    if (optimizer) {
      const { tensors, meta } = optimizer.stateTensors();
      await saveSafetensors(join(temp, "optimizer.safetensors"), await toRaw(tensors));
      optimizerMeta = meta;
    }
    await Deno.writeTextFile(
      join(temp, "state.json"),
      JSON.stringify({ ...state, optimizer: optimizerMeta }, null, 1) + "\n",
    );
    await Deno.remove(final, { recursive: true }).catch(() => {});
    await Deno.rename(temp, final);
  } catch (error) {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    throw error;
  }
  await writeFileAtomic(
    join(runDir, "latest.json"),
    new TextEncoder().encode(JSON.stringify({ checkpoint: name, step: state.step }) + "\n"),
  );
  return final;
}

/** Resolves a run directory (via latest.json) or a checkpoint directory. */
export async function resolveCheckpointDir(path: string): Promise<string> {
  try {
    const latest = JSON.parse(await Deno.readTextFile(join(path, "latest.json")));
    return join(path, latest.checkpoint);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new Error(`${path}/latest.json: ${(error as Error).message}`);
    }
  }
  try {
    await Deno.stat(join(path, "state.json"));
  } catch {
    throw new Error(`${path}: no checkpoint here (neither latest.json nor state.json)`);
  }
  return path;
}

export interface LoadedCheckpoint {
  dir: string;
  state: TrainState & { optimizer?: Record<string, unknown> | null };
}

/**
 * Restores the model (and the optimizer, when given one built on the model's current
 * parameter tensors) and returns the saved training state.
 */
export async function loadCheckpoint(
  path: string,
  model: Module,
  optimizer: AdamW | null,
): Promise<LoadedCheckpoint> {
  const dir = await resolveCheckpointDir(path);
  const state = JSON.parse(await Deno.readTextFile(join(dir, "state.json")));
  const weights = await loadSafetensors(join(dir, "model.safetensors"));
  model.loadStateDict(weights.tensors, { strict: true });
  if (optimizer) await loadOptimizerState(dir, optimizer, state);
  return { dir, state };
}

/**
 * Restores AdamW moments saved with a checkpoint. Build the optimizer after the model's
 * weights are loaded: loadStateDict replaces the parameter tensors.
 */
export async function loadOptimizerState(
  dir: string,
  optimizer: AdamW,
  state: { optimizer?: Record<string, unknown> | null },
): Promise<void> {
  if (!state.optimizer) return;
  const raw = await loadSafetensors(join(dir, "optimizer.safetensors"));
  const backend = optimizer.groups.find((g) => g.params.length)?.params[0].backend;
  if (!backend) return;
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of raw.tensors) {
    tensors.set(k, tensor(t.data, t.shape, { dtype: t.dtype, backend }));
  }
  optimizer.loadStateTensors(tensors, state.optimizer);
}

/**
 * Reads model weights from a file: our safetensors, a checkpoint or run directory, or an
 * official .pth (its "model" entry, "module." prefixes stripped).
 */
export async function readWeights(path: string): Promise<Map<string, RawTensor>> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    throw new Error(`weights not found: ${path}`);
  }
  if (info.isDirectory) {
    const dir = await resolveCheckpointDir(path);
    return (await loadSafetensors(join(dir, "model.safetensors"))).tensors;
  }
  if (/\.(pth|pt|bin)$/.test(path)) return extractStateDict(await loadPth(path));
  return (await loadSafetensors(path)).tensors;
}

/**
 * Loads weights into a model. `skip` drops keys starting with any of the prefixes (e.g. the
 * reference re-initialises class_embed when fine-tuning from pretraining); non-strict loads
 * return the report (missing/unexpected/mismatched keys).
 */
export async function loadWeightsInto(
  model: Module,
  path: string,
  options: { strict?: boolean; skip?: string[] } = {},
): Promise<LoadReport> {
  const all = await readWeights(path);
  const dict = new Map(
    [...all].filter(([k]) => !(options.skip ?? []).some((p) => k.startsWith(p))),
  );
  try {
    return model.loadStateDict(dict, { strict: options.strict ?? true });
  } catch (error) {
    throw new Error(`${basename(path)} does not fit the model config: ${(error as Error).message}`);
  }
}

export { describeReport };
