/**
 * DMMI's interaction layer (reference models/bertlayer.py `BertEncoderLayer`, design doc
 * §8.5): a GLIP BERT layer on bert-base-uncased's config with hidden 256 and 8 heads,
 * PyTorch-default initialised, activations clamped to ±50000. It reads the integer text
 * mask with its correct meaning (1 = attend; gotcha 16.1).
 */
import type { Tensor } from "../../tensor/tensor.ts";
import { Module } from "../../nn/module.ts";
import {
  BERT_BASE_UNCASED,
  BertAttention,
  type BertConfig,
  BertIntermediate,
  BertResidualOutput,
  extendedAttentionMask,
} from "./bert.ts";

export interface BertEncoderLayerOptions {
  hiddenSize?: number;
  numAttentionHeads?: number;
  /** bert-base's 3072 unless overridden (scaled-down configs). */
  intermediateSize?: number;
  /** Hidden and attention dropout (bert-base: 0.1). */
  dropout?: number;
}

/** The DMMI configuration: bert-base-uncased with hidden 256 and 8 heads. */
export function interactionBertConfig(opts: BertEncoderLayerOptions = {}): BertConfig {
  const p = opts.dropout ?? BERT_BASE_UNCASED.hiddenDropoutProb;
  return {
    ...BERT_BASE_UNCASED,
    hiddenSize: opts.hiddenSize ?? 256,
    numAttentionHeads: opts.numAttentionHeads ?? 8,
    intermediateSize: opts.intermediateSize ?? BERT_BASE_UNCASED.intermediateSize,
    hiddenDropoutProb: p,
    attentionProbsDropoutProb: p,
  };
}

export class BertEncoderLayer extends Module {
  attention: BertAttention;
  intermediate: BertIntermediate;
  output: BertResidualOutput;

  constructor(readonly config: BertConfig = interactionBertConfig()) {
    super();
    this.attention = new BertAttention(config, true);
    this.intermediate = new BertIntermediate(config, true);
    this.output = new BertResidualOutput(config, config.intermediateSize, true);
  }

  /** features [B, L, hidden], mask [B, L] integer/bool with 1 = real token -> [B, L, hidden]. */
  forward(features: Tensor, mask: Tensor): Tensor {
    const ext = extendedAttentionMask(mask, features.dtype === "f64" ? "f64" : "f32");
    const a = this.attention.forward(features, ext);
    return this.output.forward(this.intermediate.forward(a), a);
  }
}
