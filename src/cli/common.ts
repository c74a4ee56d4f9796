/** Shared helpers of the command-line tools: argument parsing, one-line errors, backends. */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import type { Backend } from "../backend/backend.ts";
import { selectBackendByName } from "../backend/select_name.ts";
import "../ops/mod.ts";
import { parseViewTransforms, type ViewTransform } from "../pipeline/test_time_views.ts";
import type { InferenceSettings } from "../pipeline/train_config.ts";
import { DEFAULT_MASK_CRF } from "../pipeline/mask_crf.ts";
import { DEFAULT_RELINK } from "../pipeline/relink_slots.ts";

/** An error whose message is shown as the one line the user sees. */
export class CliError extends Error {}

export const BACKENDS = ["cpu", "native", "webgpu", "auto"];

/** Parses argv strictly; unknown options and missing values become CliErrors. */
export function parseCli<const O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new CliError((error as Error).message.split("\n")[0]);
  }
}

/** Rejects unknown backend names (call early, before slow work). */
export function checkBackendName(name: string): void {
  if (!BACKENDS.includes(name)) {
    throw new CliError(`unknown backend "${name}" (choose one of: ${BACKENDS.join(", ")})`);
  }
}

/** Initialises a backend by name with a one-line error for unknown or unavailable ones. */
export async function openBackend(name: string): Promise<Backend> {
  checkBackendName(name);
  try {
    return await selectBackendByName(name);
  } catch (error) {
    throw new CliError(`backend "${name}" is not available here: ${firstLine(error)}`);
  }
}

export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0];
}

/**
 * Runs a command's main function: prints --help text, turns every error into one line on
 * stderr ("<tool>: <message>") with exit code 2 (usage) or 1 (failure).
 */
export async function runCli(
  tool: string,
  main: () => Promise<void>,
): Promise<void> {
  try {
    await main();
  } catch (error) {
    const usage = error instanceof CliError;
    console.error(`${tool}: ${firstLine(error)}`);
    if (Deno.env.get("DMF_DEBUG") && error instanceof Error) console.error(error.stack);
    Deno.exit(usage ? 2 : 1);
  }
}

/** Checks that a path exists (file or folder) with a one-line error. */
export async function mustExist(path: string, what: string, kind?: "file" | "dir") {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    throw new CliError(`${what} not found: ${path}`);
  }
  if (kind === "file" && !info.isFile) throw new CliError(`${what} is not a file: ${path}`);
  if (kind === "dir" && !info.isDirectory) throw new CliError(`${what} is not a folder: ${path}`);
}

/** An optional finite number >= 0 option (`--name`), or a one-line error naming it. */
export function nonNegativeNumber(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    throw new CliError(`--${name} must be a number >= 0, got "${v}"`);
  }
  return n;
}

/** `--tta hflip,reverse` / `--tta none`; undefined when the option is not given. */
export function viewTransformsOption(v: string | undefined): ViewTransform[] | undefined {
  if (v === undefined) return undefined;
  try {
    return parseViewTransforms(v, "--tta");
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/**
 * An `on|off` flag for a settings object (`--mask-crf`, `--relink-slots`): a copy of `defaults`,
 * null for off, undefined when the flag was not given.
 */
function onOffOption<T extends object>(
  v: string | undefined,
  flag: string,
  defaults: T,
): T | null | undefined {
  if (v === undefined) return undefined;
  if (v === "on") return { ...defaults };
  if (v === "off") return null;
  throw new CliError(`--${flag} must be on or off, got "${v}"`);
}

/**
 * The inference settings given as `--short-side`, `--window`, `--tta`, `--clip-frames`,
 * `--mask-crf` and `--relink-slots` (those of them a tool has), checked; only the given ones are
 * keys of the result.
 */
export function inferenceFlags(
  values: {
    "short-side"?: string;
    window?: string;
    tta?: string;
    "clip-frames"?: string;
    "mask-crf"?: string;
    "relink-slots"?: string;
  },
): Partial<InferenceSettings> {
  const given = {
    shortSide: positiveInt(values["short-side"], "short-side"),
    windowFrames: positiveInt(values.window, "window"),
    testTimeAugment: viewTransformsOption(values.tta),
    clipFrames: nonNegativeInt(values["clip-frames"], "clip-frames"),
    maskCrf: onOffOption(values["mask-crf"], "mask-crf", DEFAULT_MASK_CRF),
    relinkSlots: onOffOption(values["relink-slots"], "relink-slots", DEFAULT_RELINK),
  };
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
}

/** An optional integer option >= 0 (`--name`), or a one-line error naming it. */
export function nonNegativeInt(v: string | undefined, name: string): number | undefined {
  const n = nonNegativeNumber(v, name);
  if (n !== undefined && !Number.isInteger(n)) {
    throw new CliError(`--${name} must be an integer >= 0, got "${v}"`);
  }
  return n;
}

/** An optional positive integer option (`--name`), or a one-line error naming it. */
export function positiveInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new CliError(`--${name} must be a positive integer, got "${v}"`);
  }
  return n;
}
