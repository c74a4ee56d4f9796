import { isRawTensor, type RawTensor } from "./raw_tensor.ts";

/** Checkpoint entries that hold the model weights, in order of preference. */
const STATE_DICT_ENTRIES = ["model", "state_dict", "model_state_dict"];

function asMap(value: unknown): Map<unknown, unknown> | undefined {
  if (value instanceof Map) return value;
  if (typeof value === "object" && value !== null && !Array.isArray(value) && !isRawTensor(value)) {
    return new Map(Object.entries(value));
  }
  return undefined;
}

/**
 * Finds the weights in a loaded checkpoint (its "model" / "state_dict" entry or the object
 * itself when every value is a tensor) and strips a leading "module." (DataParallel) prefix.
 */
export function extractStateDict(checkpoint: unknown): Map<string, RawTensor> {
  const top = asMap(checkpoint);
  if (!top) throw new Error("extractStateDict: checkpoint is not a dict");
  const entry = STATE_DICT_ENTRIES.find((key) => asMap(top.get(key)));
  const dict = entry ? asMap(top.get(entry))! : top;
  const result = new Map<string, RawTensor>();
  for (const [key, value] of dict) {
    if (typeof key !== "string" || !isRawTensor(value)) {
      const keys = [...top.keys()].map(String).slice(0, 10).join(", ");
      throw new Error(
        entry
          ? `extractStateDict: "${entry}" entry "${String(key)}" is not a tensor`
          : `extractStateDict: no "model" or "state_dict" entry and the dict is not a state dict ` +
            `("${String(key)}" is not a tensor; top-level keys: ${keys})`,
      );
    }
    const name = key.startsWith("module.") ? key.slice("module.".length) : key;
    if (result.has(name)) {
      throw new Error(`extractStateDict: duplicate key "${name}" after stripping "module."`);
    }
    result.set(name, value);
  }
  return result;
}
