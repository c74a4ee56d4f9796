import type { Tensor } from "../../tensor/tensor.ts";
import { freeAfter, freeInput } from "../../tensor/memory.ts";
import { add } from "../../ops/elementwise.ts";
import { transpose } from "../../ops/shape_ops.ts";
import type { SpatialShapes } from "../../ops/deform_attn.ts";
import { Module } from "../../nn/module.ts";
import { type Activation, activation, Dropout, LayerNorm, Linear } from "../../nn/layers.ts";
import { MultiheadAttention } from "../../nn/attention.ts";
import { MSDeformAttn, type MSDeformAttnResult } from "./msda.ts";

export {
  getReferencePoints,
  getValidRatio,
  getValidRatios,
  scaleReferencePoints,
} from "./reference_points.ts";

export interface DeformableLayerOptions {
  dModel?: number;
  dFfn?: number;
  dropout?: number;
  activation?: Activation;
  nLevels?: number;
  nHeads?: number;
  nPoints?: number;
}

const withPos = (x: Tensor, pos?: Tensor | null) => (pos ? add(x, pos) : x);

/** Defaults of the reference constructors (DMFormer builds them with d_ffn 2048). */
function resolve(o: DeformableLayerOptions) {
  return {
    dModel: o.dModel ?? 256,
    dFfn: o.dFfn ?? 1024,
    dropout: o.dropout ?? 0.1,
    activation: o.activation ?? "relu",
    nLevels: o.nLevels ?? 4,
    nHeads: o.nHeads ?? 8,
    nPoints: o.nPoints ?? 4,
  };
}

/**
 * Deformable encoder layer, post-norm (§9.3): MSDA self-attention over all levels with
 * query = src + pos and value = src, then a ReLU FFN; LayerNorm after each residual.
 */
export class DeformableTransformerEncoderLayer extends Module {
  self_attn: MSDeformAttn;
  dropout1: Dropout;
  norm1: LayerNorm;
  linear1: Linear;
  dropout2: Dropout;
  linear2: Linear;
  dropout3: Dropout;
  norm2: LayerNorm;
  readonly activation: Activation;

  constructor(options: DeformableLayerOptions = {}) {
    super();
    const o = resolve(options);
    this.self_attn = new MSDeformAttn(o.dModel, o.nLevels, o.nHeads, o.nPoints);
    this.dropout1 = new Dropout(o.dropout);
    this.norm1 = new LayerNorm(o.dModel);
    this.linear1 = new Linear(o.dModel, o.dFfn);
    this.dropout2 = new Dropout(o.dropout);
    this.linear2 = new Linear(o.dFfn, o.dModel);
    this.dropout3 = new Dropout(o.dropout);
    this.norm2 = new LayerNorm(o.dModel);
    this.activation = o.activation;
  }

  /**
   * src, pos [N, S, C]; referencePoints [N, S, L, 2] (getReferencePoints); paddingMask
   * bool [N, S] (true = padding). Returns [N, S, C].
   */
  forward(
    src: Tensor,
    pos: Tensor | null,
    referencePoints: Tensor,
    spatialShapes: SpatialShapes,
    paddingMask?: Tensor | null,
  ): Tensor {
    // without gradients each half frees its temporaries when it returns (freeAfter)
    const x = freeAfter(() => {
      const attn = this.self_attn.forward(
        withPos(src, pos),
        referencePoints,
        src,
        spatialShapes,
        paddingMask,
      );
      return this.norm1.forward(add(src, this.dropout1.forward(attn.output)));
    });
    return freeAfter(() => {
      const pre = this.linear1.forward(x);
      const hidden = this.dropout2.forward(freeInput(pre, activation(this.activation, pre)));
      return this.norm2.forward(add(x, this.dropout3.forward(this.linear2.forward(hidden))));
    });
  }
}

/** The updated queries plus the cross-attention's sampling locations and weights. */
export type DecoderLayerResult = MSDeformAttnResult;

/**
 * Deformable decoder layer (§9.4), post-norm. The norms are named by their position in the
 * reference (gotcha 10): norm2 after self-attention, norm1 after cross-attention, norm3
 * after the FFN.
 */
export class DeformableTransformerDecoderLayer extends Module {
  cross_attn: MSDeformAttn;
  dropout1: Dropout;
  norm1: LayerNorm;
  self_attn: MultiheadAttention;
  dropout2: Dropout;
  norm2: LayerNorm;
  linear1: Linear;
  dropout3: Dropout;
  linear2: Linear;
  dropout4: Dropout;
  norm3: LayerNorm;
  readonly activation: Activation;

  constructor(options: DeformableLayerOptions = {}) {
    super();
    const o = resolve(options);
    this.cross_attn = new MSDeformAttn(o.dModel, o.nLevels, o.nHeads, o.nPoints);
    this.dropout1 = new Dropout(o.dropout);
    this.norm1 = new LayerNorm(o.dModel);
    this.self_attn = new MultiheadAttention(o.dModel, o.nHeads, o.dropout);
    this.dropout2 = new Dropout(o.dropout);
    this.norm2 = new LayerNorm(o.dModel);
    this.linear1 = new Linear(o.dModel, o.dFfn);
    this.dropout3 = new Dropout(o.dropout);
    this.linear2 = new Linear(o.dFfn, o.dModel);
    this.dropout4 = new Dropout(o.dropout);
    this.norm3 = new LayerNorm(o.dModel);
    this.activation = o.activation;
  }

  /**
   * tgt, queryPos [N, Lq, C]; referencePoints [N, Lq, L, 2 or 4] (already scaled by the
   * valid ratios, see scaleReferencePoints); src [N, S, C] with srcPaddingMask bool [N, S].
   * `output` is the updated tgt [N, Lq, C]; the sampling locations and attention weights
   * of the cross-attention are returned too (the reference returns them for visualisation).
   */
  forward(
    tgt: Tensor,
    queryPos: Tensor | null,
    referencePoints: Tensor,
    src: Tensor,
    spatialShapes: SpatialShapes,
    srcPaddingMask?: Tensor | null,
  ): DecoderLayerResult {
    const q = transpose(withPos(tgt, queryPos), 0, 1);
    const [selfOut] = this.self_attn.forward(q, q, transpose(tgt, 0, 1));
    let x = this.norm2.forward(add(tgt, this.dropout2.forward(transpose(selfOut, 0, 1))));
    const cross = this.cross_attn.forward(
      withPos(x, queryPos),
      referencePoints,
      src,
      spatialShapes,
      srcPaddingMask,
    );
    x = this.norm1.forward(add(x, this.dropout1.forward(cross.output)));
    const hidden = this.dropout3.forward(activation(this.activation, this.linear1.forward(x)));
    x = this.norm3.forward(add(x, this.dropout4.forward(this.linear2.forward(hidden))));
    return {
      output: x,
      samplingLocations: cross.samplingLocations,
      attentionWeights: cross.attentionWeights,
    };
  }
}
