import type { Tensor } from "../../tensor/tensor.ts";
import { noGrad } from "../../tensor/autograd.ts";
import { tensor } from "../../ops/creation.ts";
import { cat, expand, narrow, permute, reshape } from "../../ops/shape_ops.ts";
import { softmax } from "../../ops/reduce.ts";
import { Module, param } from "../../nn/module.ts";
import { Conv2d, Embedding, GroupNorm, Linear } from "../../nn/layers.ts";
import { normal } from "../../nn/init.ts";
import type { DMFormerConfig } from "./config.ts";
import { SwinTransformer } from "./swin.ts";
import { BertTextEncoder } from "./bert.ts";
import { BertEncoderLayer, interactionBertConfig } from "./bert_layer.ts";
import { FeatureResizer } from "./resizer.ts";
import { VisionLanguageFusionModule } from "./fusion.ts";
import {
  DeformableTransformerDecoderLayer,
  DeformableTransformerEncoderLayer,
} from "./deformable.ts";
import { getReferencePoints, getValidRatios } from "./reference_points.ts";
import { CrossModalFPNDecoder } from "./fpn.ts";
import { makeController, MLP, predictMasks } from "./mask_head.ts";
import { DeformableTransformer } from "./decoder.ts";
import { type BranchModules, runBranch, splitLevels, type VisualLevels } from "./dmmi_branch.ts";
import { flattenLevels, type HostMasks, resizeMasksNearest } from "./masks.ts";
import { positionEmbeddingSine1DHost, positionEmbeddingSine2DHost } from "./position_encoding.ts";
import {
  chooseSubjects,
  gatherSubjectWords,
  type PositiveMap,
  type SubjectChoice,
} from "./subject.ts";
import { modelParts } from "./model_parts.ts";
import { MaskPooledAlignment } from "./class_align.ts";
import { MaskGeometryScore } from "./class_geometry.ts";
import { MaskRefine } from "./mask_refine.ts";
import { add } from "../../ops/elementwise.ts";

/** A batch of clips: frames [b, t, 3, H, W] (normalised, zero-padded) and the padding mask. */
export interface VideoBatch {
  frames: Tensor;
  /** [b, t, H, W] row-major, 1 = padding. */
  mask: Uint8Array;
}

/** Tokenised captions of a batch (tokenizer output; padded to a common length). */
export interface CaptionBatch {
  /** [b, pad] token ids. */
  inputIds: Int32Array;
  /** [b, pad] 1 = real token. */
  attentionMask: Int32Array;
  padLength: number;
  /** Noun-chunk positive maps per caption (subject candidates). */
  positiveMaps: PositiveMap[];
}

export interface LayerOutputs {
  pred_logits: Tensor;
  pred_boxes: Tensor;
  pred_masks: Tensor;
}

export interface DMFormerOutput extends LayerOutputs {
  aux_outputs: LayerOutputs[];
  /** [b, L, 2] subject logits. */
  subject: Tensor;
  /** [b, t, q, 2] references fed to the last decoder layer (visualisation). */
  reference_points: Tensor;
  /** The subject chunk chosen per caption and the subject length S. */
  subjectChoice: SubjectChoice;
  /** [b, t, q, d] the last decoder layer's query features (the class head's input). */
  query_features: Tensor;
  /** Only with `groundingAuxHead` (a recipe option, not the reference). */
  grounding_aux?: GroundingAux;
}

/** Per-pixel grounding logits of the auxiliary head on the stride-8 memory level. */
export interface GroundingAux {
  /** [b, t, h, w] logits over the padded input's stride-`stride` grid. */
  logits: Tensor;
  stride: number;
}

/** Backbone wrapper so keys read backbone.0.body.* like the reference's Joiner. */
class BackboneBody extends Module {
  constructor(public body: SwinTransformer) {
    super();
  }
}

/**
 * DMFormer ("DMMI" in the reference): Swin + BERT, the decoupled subject/context
 * interaction, a deformable decoder with box refinement, a cross-modal FPN and the dynamic
 * mask head. Attribute names equal the reference's, so its checkpoints load by key.
 */
export class DMFormer extends Module {
  backbone: BackboneBody[];
  text_encoder: BertTextEncoder;
  resizer: FeatureResizer;
  input_proj: [Conv2d, GroupNorm][];
  level_embed_context: Tensor;
  level_embed_subject: Tensor;
  subject_perceptron_1: BertEncoderLayer;
  subject_perceptron_2: Linear;
  vlfuse_list_context: VisionLanguageFusionModule[];
  vlfuse_list_subject: VisionLanguageFusionModule[];
  visionlayer_list_context: DeformableTransformerEncoderLayer[];
  visionlayer_list_subject: DeformableTransformerEncoderLayer[];
  bertlayer_list_context: BertEncoderLayer[];
  bertlayer_list_subject: BertEncoderLayer[];
  resizer_context_v: FeatureResizer;
  resizer_context_l: FeatureResizer;
  resizer_subject_v: FeatureResizer;
  resizer_subject_l: FeatureResizer;
  transformer: DeformableTransformer;
  class_embed: Linear[];
  bbox_embed: MLP[];
  query_embed: Embedding;
  pixel_decoder: CrossModalFPNDecoder;
  controller: MLP;
  /** Only with `groundingAuxHead`; declared last so the other parameters keep their order. */
  grounding_aux_head?: Linear;
  /** Only with `classAlignment` (a recipe option, not the reference); declared last too. */
  class_align?: MaskPooledAlignment;
  /** Only with `classGeometry` (a recipe option, not the reference); declared last too. */
  class_geometry?: MaskGeometryScore;
  /** Only with `maskRefine` (a recipe option, not the reference); declared last too. */
  mask_refine?: MaskRefine;

  constructor(readonly config: DMFormerConfig) {
    super();
    const c = config;
    const d = c.hiddenDim;
    const parts = modelParts(c);
    this.backbone = [new BackboneBody(new SwinTransformer(parts.swin))];
    this.text_encoder = new BertTextEncoder(parts.bert);
    this.resizer = new FeatureResizer(c.text.hiddenSize, d, c.dropout);
    const widths = parts.stageWidths;
    this.input_proj = [
      ...[1, 2, 3].map((s) => [new Conv2d(widths[s], d, 1), new GroupNorm(c.inputProjGroups, d)]),
      [new Conv2d(widths[3], d, 3, { stride: 2, padding: 1 }), new GroupNorm(c.inputProjGroups, d)],
    ] as [Conv2d, GroupNorm][];
    this.level_embed_context = param(normal([c.numFeatureLevels, d]));
    this.level_embed_subject = param(normal([c.numFeatureLevels, d]));
    const interaction = interactionBertConfig({
      hiddenSize: d,
      numAttentionHeads: c.dmmiHeads,
      intermediateSize: c.interactionIntermediate,
      dropout: c.text.hiddenDropout,
    });
    this.subject_perceptron_1 = new BertEncoderLayer(interaction);
    this.subject_perceptron_2 = new Linear(d, 2);
    const rounds = Array.from({ length: c.numInteractions });
    const fuse = () => rounds.map(() => new VisionLanguageFusionModule(d, c.dmmiHeads, 0));
    const vision = () =>
      rounds.map(() => new DeformableTransformerEncoderLayer(parts.encoderLayer));
    const bert = () => rounds.map(() => new BertEncoderLayer(interaction));
    this.vlfuse_list_context = fuse();
    this.vlfuse_list_subject = fuse();
    this.visionlayer_list_context = vision();
    this.visionlayer_list_subject = vision();
    this.bertlayer_list_context = bert();
    this.bertlayer_list_subject = bert();
    const half = () => new FeatureResizer(d, d / 2, c.dropout);
    this.resizer_context_v = half();
    this.resizer_context_l = half();
    this.resizer_subject_v = half();
    this.resizer_subject_l = half();
    this.transformer = new DeformableTransformer(
      d,
      c.decLayers,
      () => new DeformableTransformerDecoderLayer(parts.decoderLayer),
    );
    this.class_embed = Array.from({ length: c.decLayers }, () => parts.classHead());
    this.bbox_embed = Array.from({ length: c.decLayers }, (_, k) => parts.boxHead(k));
    this.query_embed = new Embedding(c.numQueries, d);
    this.pixel_decoder = new CrossModalFPNDecoder(parts.fpn);
    this.controller = makeController(d, parts.numDynamicParams);
    // created last: the other parameters draw the same random initial values as without it
    if (c.groundingAuxHead) this.grounding_aux_head = new Linear(d, 1);
    if (c.classAlignment) this.class_align = new MaskPooledAlignment(d);
    if (c.classGeometry) this.class_geometry = new MaskGeometryScore(d);
    if (c.maskRefine) {
      if (c.maskOutStride !== 1) {
        throw new Error(
          `model config: "maskRefine" refines logits on the input grid and needs ` +
            `"maskOutStride": 1 (got ${c.maskOutStride})`,
        );
      }
      this.mask_refine = new MaskRefine();
    }
    if (c.freezeBackbone) this.backbone[0].requiresGrad(false);
    if (c.freezeTextEncoder) this.text_encoder.requiresGrad(false);
  }

  /**
   * One forward pass over b clips of t frames. `imageSizes[i]` is the unpadded (h, w) of
   * clip i (used by the mask head's relative coordinates).
   *
   * Reads back one small tensor (the subject probabilities) because the subject span
   * decides tensor shapes, as in the reference.
   */
  async forward(
    video: VideoBatch,
    captions: CaptionBatch,
    imageSizes: [number, number][],
  ): Promise<DMFormerOutput> {
    const c = this.config;
    const [b, t, , H, W] = video.frames.shape;
    const backend = video.frames.backend;

    // 1. text (§5)
    const pad = captions.padLength;
    const ids = tensor(captions.inputIds, [b, pad], { dtype: "i32", backend });
    const fullMask = tensor(captions.attentionMask, [b, pad], { dtype: "i32", backend });
    const text = this.text_encoder.forward(ids, fullMask);
    const lengths = Array.from(
      { length: b },
      (_, i) => captions.attentionMask.subarray(i * pad, (i + 1) * pad).reduce((s, v) => s + v, 0),
    );
    const L = Math.max(...lengths);
    const textMaskHost = new Int32Array(b * L);
    for (let i = 0; i < b; i++) {
      textMaskHost.set(captions.attentionMask.subarray(i * pad, i * pad + L), i * L);
    }
    const textMask = tensor(textMaskHost, [b, L], { dtype: "i32", backend });
    const words = this.resizer.forward(narrow(text.embedded, 1, 0, L));
    const sentence = this.resizer.forward(text.aggregate);
    const d = c.hiddenDim;
    const wordPos = permute(
      positionEmbeddingSine1DHost({ data: textMaskHost, shape: [b, L], dtype: "int" }, backend, {
        numPosFeats: d,
      }),
      [2, 0, 1],
    );

    // 2. backbone (§4), masks and 2-D position codes per stride
    const frames = reshape(video.frames, [b * t, 3, H, W]);
    const feats = this.backbone[0].body.forward(frames);
    const fullMaskHost: HostMasks = { data: video.mask, n: b * t, h: H, w: W };
    const levelMasks = feats.map((f) => resizeMasksNearest(fullMaskHost, f.shape[2], f.shape[3]));
    // the encoder and the pixel decoder share three levels' masks: one code tensor per mask
    const posCodes = new Map<HostMasks, Tensor>();
    const pos2d = (m: HostMasks) => {
      let code = posCodes.get(m);
      if (!code) {
        code = positionEmbeddingSine2DHost(
          { data: m.data, shape: [m.n, m.h, m.w], dtype: "bool" },
          backend,
          { numPosFeats: d / 2 },
        );
        posCodes.set(m, code);
      }
      return code;
    };
    const maskTensor = (m: HostMasks) =>
      tensor(m.data, [m.n, m.h, m.w], { dtype: "bool", backend });

    // 3. subject perceptron (§8.1) and span choice (§8.2)
    const subject = this.subject_perceptron_2.forward(
      this.subject_perceptron_1.forward(words, textMask),
    );
    const prob = await noGrad(() => narrow(softmax(subject, -1), 2, 1, 1)).data();
    const choice = chooseSubjects(prob, L, captions.positiveMaps);
    const subjectWords = gatherSubjectWords(words, choice);
    const subjectPos = permute(
      positionEmbeddingSine1DHost(
        { data: subjectWords.maskHost, shape: [b, choice.maxSpan], dtype: "int" },
        backend,
        { numPosFeats: d },
      ),
      [2, 0, 1],
    );

    // 4. input projections + the extra stride-64 level (§7.1)
    const srcs = [1, 2, 3].map((s, l) => this.project(l, feats[s]));
    srcs.push(this.project(3, feats[3]));
    const extraMask = resizeMasksNearest(fullMaskHost, srcs[3].shape[2], srcs[3].shape[3]);
    const masks = [...levelMasks.slice(1), extraMask];
    const spatialShapes = srcs.map((s) => [s.shape[2], s.shape[3]] as [number, number]);
    const validRatios = getValidRatios(masks.map(maskTensor));
    const levels: VisualLevels = {
      srcs,
      poses: masks.map(pos2d),
      spatialShapes,
      maskFlat: tensor(flattenLevels(masks), [b * t, masks.reduce((s, m) => s + m.h * m.w, 0)], {
        dtype: "bool",
        backend,
      }),
      referencePoints: getReferencePoints(spatialShapes, validRatios),
      b,
      t,
    };

    // 5. the two DMMI branches (§8.3)
    const context = runBranch(this.branch("context"), levels, {
      words,
      mask: textMask,
      pos: wordPos,
    }, sentence);
    const subj = runBranch(
      this.branch("subject"),
      levels,
      { words: subjectWords.words, mask: subjectWords.mask, pos: subjectPos },
      sentence,
    );
    const memory = cat([context.visual, subj.visual], 2);
    const textEmbed = cat([context.text, subj.text], 1);
    // the stride-8 level of the fused memory, read by the two optional heads
    const level0Shape = spatialShapes[0];
    const level0 = this.grounding_aux_head || this.class_align
      ? narrow(memory, 1, 0, level0Shape[0] * level0Shape[1])
      : undefined;
    const groundingAux = this.grounding_aux_head && level0
      ? this.groundingAux(level0, level0Shape, b, t)
      : undefined;

    // 6. decoder (§9.4) with box refinement
    const q = c.numQueries;
    const tgt = reshape(expand(reshape(textEmbed, [b, 1, 1, d]), [b, t, q, d]), [b * t, q, d]);
    const queryPos = expand(reshape(this.query_embed.weight, [1, q, d]), [b * t, q, d]);
    const dec = this.transformer.forward(
      tgt,
      queryPos,
      memory,
      spatialShapes,
      levels.maskFlat,
      validRatios,
      this.bbox_embed,
    );

    // 7. pixel decoder (§10)
    const memoryMaps = splitLevels(memory, spatialShapes).slice(0, 3);
    const maskFeatures = this.pixel_decoder.forward({
      stage1: feats[0],
      memory: memoryMaps,
      masks: levelMasks.map(maskTensor),
      poses: levelMasks.map(pos2d),
      text: words,
      textMask,
      t,
    });
    const mf = reshape(maskFeatures, [b, t, ...maskFeatures.shape.slice(1)]);

    // 8. heads and dynamic masks per decoder layer (§9.5, §11)
    const perLayer: LayerOutputs[] = dec.hs.map((hs, k) => {
      const headMasks = predictMasks(
        this.controller,
        hs,
        narrow(dec.refs[k], 2, 0, 2),
        mf,
        imageSizes,
        modelParts(c).maskHead,
      );
      let logits = this.class_embed[k].forward(hs);
      // the class terms read the head's own masks, so the refinement cannot move the choice
      if (this.class_align && level0) {
        logits = add(logits, this.class_align.forward(tgt, headMasks, level0, level0Shape));
      }
      if (this.class_geometry) {
        const term = this.class_geometry.forward(words, textMask, headMasks, imageSizes, [H, W]);
        logits = add(logits, term);
      }
      const pred_masks = this.mask_refine
        ? this.mask_refine.forward(headMasks, video.frames)
        : headMasks;
      return {
        pred_logits: reshape(logits, [b, t, q, -1]),
        pred_boxes: reshape(dec.boxes[k], [b, t, q, 4]),
        pred_masks,
      };
    });
    const last = perLayer[perLayer.length - 1];
    const lastInput = dec.inputRefs[dec.inputRefs.length - 1];
    return {
      ...last,
      aux_outputs: perLayer.slice(0, -1),
      subject,
      reference_points: reshape(narrow(lastInput, 2, 0, 2), [b, t, q, 2]),
      query_features: reshape(dec.hs[dec.hs.length - 1], [b, t, q, -1]),
      subjectChoice: choice,
      ...(groundingAux ? { grounding_aux: groundingAux } : {}),
    };
  }

  /** The auxiliary head over the first (stride-8) level's tokens of the fused memory. */
  private groundingAux(tokens: Tensor, [h, w]: [number, number], b: number, t: number) {
    return {
      logits: reshape(this.grounding_aux_head!.forward(tokens), [b, t, h, w]),
      // level 0 is the Swin's second stage: patch embedding, then one 2x patch merging
      stride: this.config.swin.patchSize * 2,
    };
  }

  private project(level: number, x: Tensor): Tensor {
    const [conv, norm] = this.input_proj[level];
    return norm.forward(conv.forward(x));
  }

  private branch(name: "context" | "subject"): BranchModules {
    const ctx = name === "context";
    return {
      vlfuse: ctx ? this.vlfuse_list_context : this.vlfuse_list_subject,
      vision: ctx ? this.visionlayer_list_context : this.visionlayer_list_subject,
      bert: ctx ? this.bertlayer_list_context : this.bertlayer_list_subject,
      resizerV: ctx ? this.resizer_context_v : this.resizer_subject_v,
      resizerL: ctx ? this.resizer_context_l : this.resizer_subject_l,
      levelEmbed: ctx ? this.level_embed_context : this.level_embed_subject,
    };
  }
}
