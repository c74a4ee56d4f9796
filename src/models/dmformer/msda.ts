import type { Tensor } from "../../tensor/tensor.ts";
import { fmtShape, ShapeError } from "../../tensor/shape.ts";
import { add, div, mul, where } from "../../ops/elementwise.ts";
import { softmax } from "../../ops/reduce.ts";
import { narrow, reshape } from "../../ops/shape_ops.ts";
import { full, tensor } from "../../ops/creation.ts";
import { msda, type SpatialShapes } from "../../ops/deform_attn.ts";
import { noGrad } from "../../tensor/autograd.ts";
import { Module, param } from "../../nn/module.ts";
import { Linear } from "../../nn/layers.ts";
import { xavierUniform } from "../../nn/init.ts";

export interface MSDeformAttnResult {
  /** [N, Lq, d_model] */
  output: Tensor;
  /** [N, Lq, M, L, P, 2] normalised (x, y) */
  samplingLocations: Tensor;
  /** [N, Lq, M, L, P] softmax-normalised over (L, P) per head */
  attentionWeights: Tensor;
}

/**
 * Multi-scale deformable attention module (design doc §9.1): value/output projections,
 * per-query sampling offsets and attention weights, and the `msda` sampling core.
 */
export class MSDeformAttn extends Module {
  sampling_offsets: Linear;
  attention_weights: Linear;
  value_proj: Linear;
  output_proj: Linear;

  constructor(
    readonly dModel = 256,
    readonly nLevels = 4,
    readonly nHeads = 8,
    readonly nPoints = 4,
  ) {
    super();
    if (dModel % nHeads !== 0) {
      throw new Error(`MSDeformAttn: d_model ${dModel} is not divisible by ${nHeads} heads`);
    }
    this.sampling_offsets = new Linear(dModel, nHeads * nLevels * nPoints * 2);
    this.attention_weights = new Linear(dModel, nHeads * nLevels * nPoints);
    this.value_proj = new Linear(dModel, dModel);
    this.output_proj = new Linear(dModel, dModel);
    this.resetParameters();
  }

  /** The reference initialisation (§9.1): directional offset biases, zero attention logits. */
  resetParameters(): void {
    const { nHeads: M, nLevels: L, nPoints: P, dModel } = this;
    const offsets = this.sampling_offsets;
    const bias = new Float32Array(M * L * P * 2);
    for (let m = 0; m < M; m++) {
      const theta = Math.fround(Math.fround(m) * Math.fround((2 * Math.PI) / M));
      const dir = [Math.fround(Math.cos(theta)), Math.fround(Math.sin(theta))];
      const scale = Math.max(Math.abs(dir[0]), Math.abs(dir[1]));
      for (let l = 0; l < L; l++) {
        for (let p = 0; p < P; p++) {
          for (let k = 0; k < 2; k++) {
            bias[((m * L + l) * P + p) * 2 + k] = Math.fround(
              Math.fround(dir[k] / scale) * (p + 1),
            );
          }
        }
      }
    }
    const replace = (old: Tensor, next: Tensor) => {
      old.dispose();
      return param(next);
    };
    noGrad(() => {
      offsets.weight = replace(offsets.weight, full(offsets.weight.shape, 0));
      offsets.bias = replace(offsets.bias!, tensor(bias, [bias.length]));
      const attn = this.attention_weights;
      attn.weight = replace(attn.weight, full(attn.weight.shape, 0));
      attn.bias = replace(attn.bias!, full([M * L * P], 0));
      for (const proj of [this.value_proj, this.output_proj]) {
        proj.weight = replace(proj.weight, xavierUniform([dModel, dModel]));
        proj.bias = replace(proj.bias!, full([dModel], 0));
      }
    });
  }

  /**
   * query [N, Lq, C]; referencePoints [N, Lq, L, 2] (x, y) or [N, Lq, L, 4] (cx, cy, w, h),
   * normalised over each level's padded map; inputFlatten [N, S, C] with the levels'
   * tokens concatenated; inputPaddingMask bool [N, S] (true = padding, value zeroed).
   */
  forward(
    query: Tensor,
    referencePoints: Tensor,
    inputFlatten: Tensor,
    spatialShapes: SpatialShapes,
    inputPaddingMask?: Tensor | null,
  ): MSDeformAttnResult {
    const { nHeads: M, nLevels: L, nPoints: P, dModel: C } = this;
    const [N, Lq] = query.shape;
    const S = inputFlatten.shape[1];
    const refDim = referencePoints.shape[3];
    if (
      referencePoints.rank !== 4 || referencePoints.shape[2] !== L ||
      (refDim !== 2 && refDim !== 4) ||
      spatialShapes.length !== L
    ) {
      throw new ShapeError(
        "MSDeformAttn",
        `reference points ${fmtShape(referencePoints.shape)} must be [N, Lq, ${L}, 2 or 4] ` +
          `and ${L} spatial shapes are needed (got ${spatialShapes.length})`,
      );
    }
    let value = this.value_proj.forward(inputFlatten);
    if (inputPaddingMask) value = where(reshape(inputPaddingMask, [N, S, 1]), 0, value);
    value = reshape(value, [N, S, M, C / M]);
    const offsets = reshape(this.sampling_offsets.forward(query), [N, Lq, M, L, P, 2]);
    const logits = reshape(this.attention_weights.forward(query), [N, Lq, M, L * P]);
    const attentionWeights = reshape(softmax(logits, -1), [N, Lq, M, L, P]);
    const samplingLocations = refDim === 2
      ? this.#locationsFromPoints(referencePoints, offsets, spatialShapes)
      : this.#locationsFromBoxes(referencePoints, offsets);
    const sampled = msda(value, samplingLocations, attentionWeights, spatialShapes);
    return { output: this.output_proj.forward(sampled), samplingLocations, attentionWeights };
  }

  /** loc = ref + offset / (W_l, H_l). */
  #locationsFromPoints(ref: Tensor, offsets: Tensor, shapes: SpatialShapes): Tensor {
    const [N, Lq, L] = ref.shape;
    const normalizer = tensor(
      Float32Array.from(shapes.flatMap(([h, w]) => [w, h])),
      [1, 1, 1, L, 1, 2],
      { dtype: offsets.dtype, backend: offsets.backend },
    );
    return add(reshape(ref, [N, Lq, 1, L, 1, 2]), div(offsets, normalizer));
  }

  /** loc = (cx, cy) + offset / P * (w, h) * 0.5. */
  #locationsFromBoxes(ref: Tensor, offsets: Tensor): Tensor {
    const [N, Lq, L] = ref.shape;
    const centre = reshape(narrow(ref, 3, 0, 2), [N, Lq, 1, L, 1, 2]);
    const size = reshape(narrow(ref, 3, 2, 2), [N, Lq, 1, L, 1, 2]);
    return add(centre, mul(mul(div(offsets, this.nPoints), size), 0.5));
  }
}
