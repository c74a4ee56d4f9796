/**
 * BERT with Hugging Face state-dict names (design doc §5.2): post-LN layers, exact GELU,
 * LayerNorm eps 1e-12, the additive mask (1 - m) * -10000, optional tanh pooler; and the
 * DMMI text wrapper ("BertEncoder" of the reference, here `BertTextEncoder`): last hidden
 * layer, zeroed at padding, masked mean as the sentence feature ([CLS] and [SEP] included).
 * The parts take a `clamp` flag for the GLIP interaction layer (bert_layer.ts, §8.5).
 */
import type { Tensor } from "../../tensor/tensor.ts";
import { freeAfter } from "../../tensor/memory.ts";
import { add, cast, clamp, div, gelu, mul, sub, tanh } from "../../ops/elementwise.ts";
import { arange, zeros } from "../../ops/creation.ts";
import { matmul } from "../../ops/matmul.ts";
import { dropout } from "../../ops/random.ts";
import { softmax, sum } from "../../ops/reduce.ts";
import { narrow, permute, reshape, unsqueeze } from "../../ops/shape_ops.ts";
import { Embedding, LayerNorm, Linear } from "../../nn/layers.ts";
import { Module } from "../../nn/module.ts";

export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
}

/** bert-base-uncased. */
export const BERT_BASE_UNCASED: BertConfig = {
  vocabSize: 30522,
  hiddenSize: 768,
  numHiddenLayers: 12,
  numAttentionHeads: 12,
  intermediateSize: 3072,
  maxPositionEmbeddings: 512,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
  hiddenDropoutProb: 0.1,
  attentionProbsDropoutProb: 0.1,
};

/** Reads a Hugging Face config.json object (missing keys fall back to bert-base-uncased). */
export function bertConfigFromHF(json: Record<string, unknown>): BertConfig {
  const d = BERT_BASE_UNCASED;
  const get = (k: string, v: number) => (json[k] as number | undefined) ?? v;
  if (json.hidden_act !== undefined && json.hidden_act !== "gelu") {
    throw new Error(`BERT: hidden_act "${json.hidden_act}" is not supported (only exact "gelu")`);
  }
  return {
    vocabSize: get("vocab_size", d.vocabSize),
    hiddenSize: get("hidden_size", d.hiddenSize),
    numHiddenLayers: get("num_hidden_layers", d.numHiddenLayers),
    numAttentionHeads: get("num_attention_heads", d.numAttentionHeads),
    intermediateSize: get("intermediate_size", d.intermediateSize),
    maxPositionEmbeddings: get("max_position_embeddings", d.maxPositionEmbeddings),
    typeVocabSize: get("type_vocab_size", d.typeVocabSize),
    layerNormEps: get("layer_norm_eps", d.layerNormEps),
    hiddenDropoutProb: get("hidden_dropout_prob", d.hiddenDropoutProb),
    attentionProbsDropoutProb: get("attention_probs_dropout_prob", d.attentionProbsDropoutProb),
  };
}

/** Activations of the GLIP layers are clamped to this range (fp16 overflow guard). */
export const CLAMP_LIMIT = 50000;
const clampIf = (x: Tensor, on: boolean) => (on ? clamp(x, -CLAMP_LIMIT, CLAMP_LIMIT) : x);

/**
 * HF extended mask from an integer/bool mask [B, L] (1 = attend): (1 - m) * -10000 as
 * [B, 1, 1, L], in `dtype`. Older transformers' constant; the fixtures use it (§8.5).
 */
export function extendedAttentionMask(mask: Tensor, dtype: "f32" | "f64" = "f32"): Tensor {
  const [b, l] = mask.shape;
  return reshape(mul(sub(1, cast(mask, dtype)), -10000), [b, 1, 1, l]);
}

export class BertEmbeddings extends Module {
  word_embeddings: Embedding;
  position_embeddings: Embedding;
  token_type_embeddings: Embedding;
  LayerNorm: LayerNorm;

  constructor(readonly config: BertConfig) {
    super();
    this.word_embeddings = new Embedding(config.vocabSize, config.hiddenSize);
    this.position_embeddings = new Embedding(config.maxPositionEmbeddings, config.hiddenSize);
    this.token_type_embeddings = new Embedding(config.typeVocabSize, config.hiddenSize);
    this.LayerNorm = new LayerNorm(config.hiddenSize, config.layerNormEps);
  }

  /** ids [B, L] -> [B, L, hidden]; token types default to 0, positions to 0..L-1. */
  forward(inputIds: Tensor, tokenTypeIds?: Tensor): Tensor {
    const l = inputIds.shape[1];
    const backend = inputIds.backend;
    const types = tokenTypeIds ?? zeros(inputIds.shape, { dtype: "i32", backend });
    const positions = arange(l, undefined, 1, { dtype: "i32", backend });
    // summed in HF's order: words + token types, then positions
    const e = add(
      add(this.word_embeddings.forward(inputIds), this.token_type_embeddings.forward(types)),
      this.position_embeddings.forward(positions),
    );
    const y = this.LayerNorm.forward(e);
    return dropout(y, this.config.hiddenDropoutProb, this.training);
  }
}

export class BertSelfAttention extends Module {
  query: Linear;
  key: Linear;
  value: Linear;

  constructor(readonly config: BertConfig, readonly clampScores = false) {
    super();
    const h = config.hiddenSize;
    if (h % config.numAttentionHeads !== 0) {
      throw new Error(`BERT: hidden ${h} is not divisible by ${config.numAttentionHeads} heads`);
    }
    this.query = new Linear(h, h);
    this.key = new Linear(h, h);
    this.value = new Linear(h, h);
  }

  /** x [B, L, hidden], extendedMask [B, 1, 1, L] (additive) -> context [B, L, hidden]. */
  forward(x: Tensor, extendedMask: Tensor | null): Tensor {
    const [b, l, h] = x.shape;
    const nh = this.config.numAttentionHeads;
    const d = h / nh;
    const heads = (t: Tensor) => permute(reshape(t, [b, l, nh, d]), [0, 2, 1, 3]);
    const q = heads(this.query.forward(x));
    const k = heads(this.key.forward(x));
    const v = heads(this.value.forward(x));
    // HF divides the product (not q) by sqrt(head_dim)
    let scores = clampIf(div(matmul(q, k, { transB: true }), Math.sqrt(d)), this.clampScores);
    if (extendedMask) scores = add(scores, extendedMask);
    const probs = dropout(
      softmax(scores, -1),
      this.config.attentionProbsDropoutProb,
      this.training,
    );
    return reshape(permute(matmul(probs, v), [0, 2, 1, 3]), [b, l, h]);
  }
}

/** dense -> dropout -> LayerNorm(+ residual); also HF's BertOutput with `clampOutputs`. */
export class BertResidualOutput extends Module {
  dense: Linear;
  LayerNorm: LayerNorm;

  constructor(readonly config: BertConfig, inSize: number, readonly clampOutputs = false) {
    super();
    this.dense = new Linear(inSize, config.hiddenSize);
    this.LayerNorm = new LayerNorm(config.hiddenSize, config.layerNormEps);
  }

  forward(x: Tensor, residual: Tensor): Tensor {
    const c = this.clampOutputs;
    const y = dropout(this.dense.forward(x), this.config.hiddenDropoutProb, this.training);
    return clampIf(this.LayerNorm.forward(add(clampIf(y, c), residual)), c);
  }
}

export class BertAttention extends Module {
  self: BertSelfAttention;
  output: BertResidualOutput;

  constructor(config: BertConfig, clampScores = false) {
    super();
    this.self = new BertSelfAttention(config, clampScores);
    // attention.output is never clamped, not even in the GLIP layer
    this.output = new BertResidualOutput(config, config.hiddenSize);
  }

  forward(x: Tensor, extendedMask: Tensor | null): Tensor {
    return this.output.forward(this.self.forward(x, extendedMask), x);
  }
}

export class BertIntermediate extends Module {
  dense: Linear;

  constructor(config: BertConfig, readonly clampOutputs = false) {
    super();
    this.dense = new Linear(config.hiddenSize, config.intermediateSize);
  }

  forward(x: Tensor): Tensor {
    const c = this.clampOutputs;
    return clampIf(gelu(clampIf(this.dense.forward(x), c)), c);
  }
}

/** One post-LN transformer layer (the clamped GLIP variant is bert_layer.ts). */
export class BertLayer extends Module {
  attention: BertAttention;
  intermediate: BertIntermediate;
  output: BertResidualOutput;

  constructor(config: BertConfig) {
    super();
    this.attention = new BertAttention(config);
    this.intermediate = new BertIntermediate(config);
    this.output = new BertResidualOutput(config, config.intermediateSize);
  }

  forward(x: Tensor, extendedMask: Tensor | null): Tensor {
    const a = this.attention.forward(x, extendedMask);
    return this.output.forward(this.intermediate.forward(a), a);
  }
}

/** HF `BertEncoder` (the layer stack; named apart from the DMMI wrapper below). */
export class BertLayerStack extends Module {
  layer: BertLayer[];

  constructor(config: BertConfig) {
    super();
    this.layer = Array.from({ length: config.numHiddenLayers }, () => new BertLayer(config));
  }
}

export class BertPooler extends Module {
  dense: Linear;

  constructor(config: BertConfig) {
    super();
    this.dense = new Linear(config.hiddenSize, config.hiddenSize);
  }

  forward(hidden: Tensor): Tensor {
    const first = reshape(narrow(hidden, 1, 0, 1), [hidden.shape[0], hidden.shape[2]]);
    return tanh(this.dense.forward(first));
  }
}

export interface BertOutput {
  lastHiddenState: Tensor;
  /** Embedding output, then every layer's output. */
  hiddenStates: Tensor[];
  poolerOutput: Tensor | null;
}

export class BertModel extends Module {
  embeddings: BertEmbeddings;
  encoder: BertLayerStack;
  pooler: BertPooler | null;

  constructor(readonly config: BertConfig, addPoolingLayer = true) {
    super();
    this.embeddings = new BertEmbeddings(config);
    this.encoder = new BertLayerStack(config);
    this.pooler = addPoolingLayer ? new BertPooler(config) : null;
  }

  /** inputIds [B, L] int, attentionMask [B, L] int/bool with 1 = real token. */
  forward(inputIds: Tensor, attentionMask?: Tensor, tokenTypeIds?: Tensor): BertOutput {
    let h = this.embeddings.forward(inputIds, tokenTypeIds);
    const mask = attentionMask ? extendedAttentionMask(attentionMask, floatType(h)) : null;
    const hiddenStates = [h];
    for (const layer of this.encoder.layer) {
      h = freeAfter(() => layer.forward(h, mask));
      hiddenStates.push(h);
    }
    return {
      lastHiddenState: h,
      hiddenStates,
      poolerOutput: this.pooler ? this.pooler.forward(h) : null,
    };
  }
}

function floatType(t: Tensor): "f32" | "f64" {
  return t.dtype === "f64" ? "f64" : "f32";
}

export interface TextFeatures {
  /** Last hidden layer [B, L, hidden]. */
  hidden: Tensor;
  /** Features (last `numLayers` averaged, see BertTextEncoder) * mask: zeros at padding. */
  embedded: Tensor;
  /** Masked mean over the real tokens, [CLS] and [SEP] included [B, hidden]. */
  aggregate: Tensor;
  /** The integer mask it was given [B, L]. */
  masks: Tensor;
}

/** DMMI's text encoder wrapper (reference models/bert.py `BertEncoder`); keys model.*. */
export class BertTextEncoder extends Module {
  model: BertModel;

  /** GLIP builds BERT without its pooler; `addPoolingLayer` only serves HF-style checkpoints. */
  constructor(config: BertConfig, readonly numLayers = 1, addPoolingLayer = false) {
    super();
    this.model = new BertModel(config, addPoolingLayer);
  }

  forward(inputIds: Tensor, attentionMask: Tensor): TextFeatures {
    const out = this.model.forward(inputIds, attentionMask);
    const last = out.hiddenStates.slice(-this.numLayers);
    // the reference averages the last layers and then divides by their count again;
    // with the configured numLayers = 1 both are identities
    const mean = last.length === 1 ? last[0] : div(last.reduce((a, b) => add(a, b)), last.length);
    const features = last.length === 1 ? mean : div(mean, last.length);
    const m = cast(attentionMask, features.dtype);
    const embedded = mul(features, unsqueeze(m, -1));
    const aggregate = div(sum(embedded, 1), unsqueeze(sum(m, -1), -1));
    return { hidden: out.lastHiddenState, embedded, aggregate, masks: attentionMask };
  }
}
