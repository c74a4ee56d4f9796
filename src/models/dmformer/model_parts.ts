import { tensor } from "../../ops/creation.ts";
import { Linear } from "../../nn/layers.ts";
import { param } from "../../nn/module.ts";
import { constant } from "../../nn/init.ts";
import type { DMFormerConfig } from "./config.ts";
import { SWIN_T_GLIP, type SwinConfig } from "./swin.ts";
import { BERT_BASE_UNCASED, type BertConfig } from "./bert.ts";
import type { DeformableLayerOptions } from "./deformable.ts";
import type { CrossModalFPNOptions } from "./fpn.ts";
import { type DynamicMaskOptions, dynamicParamLayout, MLP } from "./mask_head.ts";

/** Translates a DMFormerConfig into the options of each block. */
export function modelParts(c: DMFormerConfig) {
  const d = c.hiddenDim;
  const swin: SwinConfig = {
    ...SWIN_T_GLIP,
    patchSize: c.swin.patchSize,
    embedDim: c.swin.embedDim,
    depths: c.swin.depths,
    numHeads: c.swin.numHeads,
    windowSize: c.swin.windowSize,
    mlpRatio: c.swin.mlpRatio,
    dropPathRate: c.swin.dropPathRate,
    ...(c.useRmhca ? { rmhca: {} } : {}),
  };
  const bert: BertConfig = {
    ...BERT_BASE_UNCASED,
    vocabSize: c.text.vocabSize,
    hiddenSize: c.text.hiddenSize,
    numHiddenLayers: c.text.numHiddenLayers,
    numAttentionHeads: c.text.numAttentionHeads,
    intermediateSize: c.text.intermediateSize,
    maxPositionEmbeddings: c.text.maxPositionEmbeddings,
    typeVocabSize: c.text.typeVocabSize,
    layerNormEps: c.text.layerNormEps,
    hiddenDropoutProb: c.text.hiddenDropout,
    attentionProbsDropoutProb: c.text.attentionDropout,
  };
  const layer = (nHeads: number, nPoints: number): DeformableLayerOptions => ({
    dModel: d,
    dFfn: c.dimFeedforward,
    dropout: c.dropout,
    activation: "relu",
    nLevels: c.numFeatureLevels,
    nHeads,
    nPoints,
  });
  const stageWidths = c.swin.depths.map((_, s) => c.swin.embedDim * 2 ** s);
  const fpn: CrossModalFPNOptions = {
    featureChannels: [stageWidths[0], d, d, d],
    convDim: d,
    maskDim: c.maskDim,
    dimFeedforward: c.dimFeedforward,
    nhead: c.fpnHeads,
    groups: c.fpnGroups,
    srRatios: c.fpnRatios,
    dropout: c.dropout,
  };
  const maskHead: DynamicMaskOptions = {
    maskDim: c.maskDim,
    dynamicMaskChannels: c.dynamicMaskChannels,
    controllerLayers: c.controllerLayers,
    relCoord: c.relCoord,
    maskFeatStride: c.maskFeatStride,
    maskOutStride: c.maskOutStride,
  };
  return {
    swin,
    bert,
    stageWidths,
    encoderLayer: layer(c.dmmiHeads, c.encNPoints),
    decoderLayer: layer(c.nheads, c.decNPoints),
    fpn,
    maskHead,
    numDynamicParams: dynamicParamLayout(maskHead).total,
    /** class_embed: bias -log((1 - 0.01) / 0.01) (§9.5). */
    classHead(): Linear {
      const l = new Linear(d, c.numClasses);
      l.bias!.dispose();
      l.bias = param(constant([c.numClasses], -Math.log((1 - 0.01) / 0.01)));
      return l;
    },
    /** bbox_embed: 3-layer MLP, last layer zero; copy 0's last bias is (0, 0, -2, -2). */
    boxHead(k: number): MLP {
      const mlp = new MLP(d, d, 4, 3);
      const last = mlp.layers[2];
      last.weight.dispose();
      last.bias!.dispose();
      last.weight = param(constant([4, d], 0));
      last.bias = param(tensor(k === 0 ? [0, 0, -2, -2] : [0, 0, 0, 0]));
      return mlp;
    },
  };
}
