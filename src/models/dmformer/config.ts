/**
 * DMFormer configuration. `swin-t` is the paper's model (design doc §1); `tiny` is the
 * configuration of the dmmi_tiny golden fixture. Widths the reference hard-codes
 * (design doc §17.1) are fields here, defaulting to the reference's values.
 */
export interface SwinConfig {
  patchSize: number;
  embedDim: number;
  depths: number[];
  numHeads: number[];
  windowSize: number;
  mlpRatio: number;
  dropPathRate: number;
}

export interface TextEncoderConfig {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  hiddenDropout: number;
  attentionDropout: number;
  /** Tokens per caption including [CLS]/[SEP] (256 in the reference). */
  maxLength: number;
}

export interface DMFormerConfig {
  hiddenDim: number;
  numQueries: number;
  numFrames: number;
  decLayers: number;
  dimFeedforward: number;
  /** Heads of the decoder self-attention and decoder deformable attention. */
  nheads: number;
  dropout: number;
  numFeatureLevels: number;
  decNPoints: number;
  encNPoints: number;
  numClasses: number;
  withBoxRefine: boolean;
  auxLoss: boolean;
  maskDim: number;
  dynamicMaskChannels: number;
  controllerLayers: number;
  relCoord: boolean;
  maskFeatStride: number;
  maskOutStride: number;
  swin: SwinConfig;
  text: TextEncoderConfig;
  /** DMMI interaction: rounds, attention heads, BERT-layer intermediate width. */
  numInteractions: number;
  dmmiHeads: number;
  interactionIntermediate: number;
  /** Heads and GroupNorm groups of the FPN; reduction ratios of its blocks. */
  fpnHeads: number;
  fpnGroups: number;
  fpnRatios: number[];
  inputProjGroups: number;
  /** RMHCA is off in the reference's forward pass (design doc §4.6). */
  useRmhca: boolean;
  freezeBackbone: boolean;
  freezeTextEncoder: boolean;
  /**
   * Not in the reference (a recipe option, off by default): a Linear(hiddenDim, 1) head
   * `grounding_aux_head` on the fused memory tokens of the stride-8 level whose per-pixel
   * logits the criterion's `loss_grounding_aux` trains against the referred object's mask.
   */
  groundingAuxHead: boolean;
  /**
   * Not in the reference (a recipe option, off by default): `class_align`, a term added to
   * every decoder layer's class logits that scores the fused memory pooled under each query's
   * mask against the sentence (class_align.ts).
   */
  classAlignment: boolean;
  /**
   * Not in the reference (a recipe option, off by default): `class_geometry`, a term added to
   * every decoder layer's class logits that weighs each query's mask size, place and motion over
   * the clip by the sentence (class_geometry.ts).
   */
  classGeometry: boolean;
  /**
   * Not in the reference (a recipe option, off by default): `mask_refine`, three small 3x3 convs
   * that correct the full-resolution mask logits from the frame's pixels (mask_refine.ts). Needs
   * `maskOutStride` 1, so that the head's logits cover the input grid.
   */
  maskRefine: boolean;
}

export const SWIN_T: DMFormerConfig = {
  hiddenDim: 256,
  numQueries: 5,
  numFrames: 5,
  decLayers: 4,
  dimFeedforward: 2048,
  nheads: 8,
  dropout: 0.1,
  numFeatureLevels: 4,
  decNPoints: 4,
  encNPoints: 4,
  numClasses: 1,
  withBoxRefine: true,
  auxLoss: true,
  maskDim: 256,
  dynamicMaskChannels: 8,
  controllerLayers: 3,
  relCoord: true,
  maskFeatStride: 4,
  maskOutStride: 4,
  swin: {
    patchSize: 4,
    embedDim: 96,
    depths: [2, 2, 6, 2],
    numHeads: [3, 6, 12, 24],
    windowSize: 7,
    mlpRatio: 4,
    dropPathRate: 0.2,
  },
  text: {
    vocabSize: 30522,
    hiddenSize: 768,
    numHiddenLayers: 12,
    numAttentionHeads: 12,
    intermediateSize: 3072,
    maxPositionEmbeddings: 512,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    hiddenDropout: 0.1,
    attentionDropout: 0.1,
    maxLength: 256,
  },
  numInteractions: 2,
  dmmiHeads: 8,
  interactionIntermediate: 3072,
  fpnHeads: 8,
  fpnGroups: 8,
  fpnRatios: [8, 4, 2, 1],
  inputProjGroups: 32,
  useRmhca: false,
  freezeBackbone: true,
  freezeTextEncoder: true,
  groundingAuxHead: false,
  classAlignment: false,
  classGeometry: false,
  maskRefine: false,
};

/** The dmmi_tiny fixture's configuration (hidden 64, 2 decoder layers, Swin embed 8). */
export const TINY: DMFormerConfig = {
  ...SWIN_T,
  hiddenDim: 64,
  numFrames: 2,
  decLayers: 2,
  dimFeedforward: 64,
  maskDim: 32,
  swin: {
    patchSize: 4,
    embedDim: 8,
    depths: [2, 2, 2, 2],
    numHeads: [1, 2, 4, 8],
    windowSize: 7,
    mlpRatio: 4,
    dropPathRate: 0,
  },
  text: {
    ...SWIN_T.text,
    vocabSize: 100,
    hiddenSize: 64,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    intermediateSize: 128,
    maxPositionEmbeddings: 64,
  },
  interactionIntermediate: 128,
  freezeBackbone: false,
  freezeTextEncoder: false,
};

export const NAMED_CONFIGS: Record<string, DMFormerConfig> = { "swin-t": SWIN_T, tiny: TINY };

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/**
 * Resolves a configuration: a name ("swin-t", "tiny"), or a JSON object with an optional
 * "base" name and overrides (nested objects merge). Unknown keys are errors.
 */
export function resolveConfig(
  spec: string | (DeepPartial<DMFormerConfig> & { base?: string }),
): DMFormerConfig {
  if (typeof spec === "string") {
    const c = NAMED_CONFIGS[spec];
    if (!c) {
      throw new Error(
        `unknown model config "${spec}" (known: ${Object.keys(NAMED_CONFIGS).join(", ")})`,
      );
    }
    return structuredClone(c);
  }
  const { base = "swin-t", ...overrides } = spec;
  return merge(resolveConfig(base), overrides, "config");
}

// deno-lint-ignore no-explicit-any
function merge(target: any, over: any, path: string): any {
  for (const [k, v] of Object.entries(over)) {
    if (!(k in target)) throw new Error(`${path}: unknown key "${k}"`);
    if (v && typeof v === "object" && !Array.isArray(v)) merge(target[k], v, `${path}.${k}`);
    else {
      if (typeof v !== typeof target[k]) {
        throw new Error(`${path}.${k}: expected ${typeof target[k]}, got ${typeof v}`);
      }
      target[k] = v;
    }
  }
  return target;
}

/** Reads a JSON config file ({"base": "tiny", "hiddenDim": 32, ...}). */
export async function loadConfigFile(path: string): Promise<DMFormerConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`cannot read config ${path}: ${e instanceof Error ? e.message : e}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`config ${path} is not valid JSON: ${e instanceof Error ? e.message : e}`);
  }
  return resolveConfig(json as Parameters<typeof resolveConfig>[0]);
}
