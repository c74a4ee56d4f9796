import type { Tensor } from "../../tensor/tensor.ts";
import { add, clamp, div, log, maximum, sigmoid, sub } from "../../ops/elementwise.ts";
import { pad } from "../../ops/shape_ops.ts";
import { Module } from "../../nn/module.ts";
import { Linear } from "../../nn/layers.ts";
import type { SpatialShapes } from "../../ops/deform_attn.ts";
import { DeformableTransformerDecoderLayer, scaleReferencePoints } from "./deformable.ts";
import type { MLP } from "./mask_head.ts";

/** logit with the reference's clamp: log(max(x, eps) / max(1 - x, eps)), x clamped to [0, 1]. */
export function inverseSigmoid(x: Tensor, eps = 1e-5): Tensor {
  const c = clamp(x, 0, 1);
  return log(div(maximum(c, eps), maximum(sub(1, c), eps)));
}

export class DeformableDecoder extends Module {
  layers: DeformableTransformerDecoderLayer[];

  constructor(n: number, make: () => DeformableTransformerDecoderLayer) {
    super();
    this.layers = Array.from({ length: n }, make);
  }
}

export interface DecoderOutput {
  /** Per layer outputs [(b t), q, d]. */
  hs: Tensor[];
  /** Per layer box predictions with gradient, sigmoid(delta + logit(incoming refs)). */
  boxes: Tensor[];
  /** Per layer refined references (detached) [(b t), q, 4]. */
  refs: Tensor[];
  /** Input references of each layer (detached; [..., 2] for layer 0, [..., 4] later). */
  inputRefs: Tensor[];
}

/**
 * The deformable transformer of DMFormer: no encoder (gotcha 17), reference_points and a
 * decoder with iterative box refinement whose heads are the model's bbox_embed
 * (passed in, so their keys live under bbox_embed.* only).
 */
export class DeformableTransformer extends Module {
  decoder: DeformableDecoder;
  reference_points: Linear;

  constructor(d: number, decLayers: number, make: () => DeformableTransformerDecoderLayer) {
    super();
    this.decoder = new DeformableDecoder(decLayers, make);
    this.reference_points = new Linear(d, 2);
  }

  forward(
    tgt: Tensor,
    queryPos: Tensor,
    memory: Tensor,
    spatialShapes: SpatialShapes,
    memoryMask: Tensor | null,
    validRatios: Tensor,
    bboxEmbed: MLP[],
  ): DecoderOutput {
    let refs = sigmoid(this.reference_points.forward(queryPos));
    const out: DecoderOutput = { hs: [], boxes: [], refs: [], inputRefs: [] };
    let x = tgt;
    this.decoder.layers.forEach((layer, k) => {
      // r0 keeps its gradient (reference_points is trained through layer 0); later
      // references are the detached refinements of the previous layer
      const input = refs;
      out.inputRefs.push(input);
      const scaled = scaleReferencePoints(input, validRatios);
      x = layer.forward(x, queryPos, scaled, memory, spatialShapes, memoryMask).output;
      const delta = bboxEmbed[k].forward(x);
      const refLogit = inverseSigmoid(input);
      const shifted = input.shape[2] === 2 ? pad(refLogit, [0, 2]) : refLogit;
      const box = sigmoid(add(delta, shifted));
      out.hs.push(x);
      out.boxes.push(box);
      refs = box.detach();
      out.refs.push(refs);
    });
    return out;
  }
}
