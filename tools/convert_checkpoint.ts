/**
 * Converts a PyTorch checkpoint (.pth, zip or legacy) or a safetensors file holding a state
 * dict into a safetensors file.
 */
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { CHECKPOINT_FAMILIES, isCheckpointFamily, renameKeys } from "../src/io/key_maps.ts";
import { extractStateDict, loadPth } from "../src/io/pth.ts";
import type { RawTensor } from "../src/io/raw_tensor.ts";
import { loadSafetensors, saveSafetensors } from "../src/io/safetensors.ts";

const USAGE =
  `Usage: deno run -A tools/convert_checkpoint.ts <input.pth|input.safetensors> <output.safetensors> [options]

Options:
  --family <name>      key-rename table: ${CHECKPOINT_FAMILIES.join(", ")} (default dmformer)
  --prefix <p>         keep only tensors whose key starts with <p>, and remove <p>
  --add-prefix <p>     prepend <p> to every key
  --help               show this help

A leading "module." is always stripped; .pth inputs use their "model" / "state_dict" entry
or the bare dict.`;

class UsageError extends Error {}

async function readStateDict(path: string): Promise<Map<string, RawTensor>> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new Error(`input is not a file: ${path}`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(`input file not found: ${path}`);
    throw error;
  }
  if (path.endsWith(".safetensors")) {
    return extractStateDict((await loadSafetensors(path)).tensors);
  }
  return extractStateDict(await loadPth(path));
}

function selectPrefix(
  tensors: Map<string, RawTensor>,
  prefix: string,
  addPrefix: string,
): Map<string, RawTensor> {
  const selected = new Map<string, RawTensor>();
  for (const [key, tensor] of tensors) {
    if (!key.startsWith(prefix)) continue;
    selected.set(addPrefix + key.slice(prefix.length), tensor);
  }
  return selected;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      family: { type: "string", default: "dmformer" },
      prefix: { type: "string", default: "" },
      "add-prefix": { type: "string", default: "" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 2) {
    throw new UsageError(`expected <input> and <output>, got ${positionals.length} arguments`);
  }
  const [input, output] = positionals;
  if (!isCheckpointFamily(values.family)) {
    throw new UsageError(
      `unknown --family "${values.family}" (known: ${CHECKPOINT_FAMILIES.join(", ")})`,
    );
  }
  const renamed = renameKeys(await readStateDict(input), values.family);
  const tensors = selectPrefix(renamed, values.prefix, values["add-prefix"]);
  if (tensors.size === 0) {
    throw new Error(
      `no tensors left to write (input had ${renamed.size} after --family ${values.family}` +
        `${values.prefix ? `, none starts with "${values.prefix}"` : ""})`,
    );
  }
  await saveSafetensors(output, tensors, { format: "pt", source: basename(input) });
  const bytes = (await Deno.stat(output)).size;
  console.log(`wrote ${tensors.size} tensors (${bytes} bytes) to ${output}`);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`convert_checkpoint: ${message.split("\n")[0]}`);
    if (
      error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      console.error("Run with --help for usage.");
      Deno.exit(2);
    }
    Deno.exit(1);
  }
}
