/**
 * Key-rename tables turning third-party checkpoint state dicts into this project's
 * parameter names. Keys are first stripped of a leading "module." (DataParallel); then the
 * first matching prefix rule rewrites the key. Families with `dropUnmatched` discard keys no
 * rule matches.
 */

export interface KeyPrefixRule {
  from: string;
  to: string;
}

export interface KeyMap {
  description: string;
  rules: readonly KeyPrefixRule[];
  dropUnmatched: boolean;
}

export const KEY_MAPS = {
  /** DMFormer's own checkpoints already use our names. */
  dmformer: {
    description: "DMFormer checkpoints (identity; 'module.' stripped)",
    rules: [],
    dropUnmatched: false,
  },
  /**
   * GLIP checkpoints ("model" dict): only the Swin backbone and the BERT language backbone
   * are reused; "module.backbone.body." -> "backbone.0.body.",
   * "module.language_backbone.body.model." -> "text_encoder.model.".
   */
  glip: {
    description: "GLIP pre-training checkpoints (Swin backbone + BERT text encoder only)",
    rules: [
      { from: "backbone.body.", to: "backbone.0.body." },
      { from: "language_backbone.body.model.", to: "text_encoder.model." },
    ],
    dropUnmatched: true,
  },
} as const satisfies Record<string, KeyMap>;

export type CheckpointFamily = keyof typeof KEY_MAPS;

export const CHECKPOINT_FAMILIES = Object.keys(KEY_MAPS) as CheckpointFamily[];

export function isCheckpointFamily(name: string): name is CheckpointFamily {
  return Object.hasOwn(KEY_MAPS, name);
}

/** Maps one key; undefined when the family drops it. */
export function renameKey(key: string, family: CheckpointFamily): string | undefined {
  const map: KeyMap = KEY_MAPS[family];
  const stripped = key.startsWith("module.") ? key.slice("module.".length) : key;
  const rule = map.rules.find((r) => stripped.startsWith(r.from));
  if (rule) return rule.to + stripped.slice(rule.from.length);
  return map.dropUnmatched ? undefined : stripped;
}

/** Renames (and for some families filters) a state dict; colliding names are an error. */
export function renameKeys<T>(
  stateDict: ReadonlyMap<string, T>,
  family: CheckpointFamily,
): Map<string, T> {
  if (!isCheckpointFamily(family)) {
    throw new Error(
      `unknown checkpoint family "${family}" (known: ${CHECKPOINT_FAMILIES.join(", ")})`,
    );
  }
  const renamed = new Map<string, T>();
  const sources = new Map<string, string>();
  for (const [key, value] of stateDict) {
    const name = renameKey(key, family);
    if (name === undefined) continue;
    if (renamed.has(name)) {
      throw new Error(
        `renameKeys(${family}): "${key}" and "${sources.get(name)}" both map to "${name}"`,
      );
    }
    renamed.set(name, value);
    sources.set(name, key);
  }
  return renamed;
}
