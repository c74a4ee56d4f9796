import type { Tensor } from "../../tensor/tensor.ts";
import { cast, div, logicalNot, mul } from "../../ops/elementwise.ts";
import { sum } from "../../ops/reduce.ts";
import { cat, narrow, reshape, stack } from "../../ops/shape_ops.ts";
import { tensor } from "../../ops/creation.ts";
import type { SpatialShapes } from "../../ops/deform_attn.ts";

/**
 * Valid ratio of one level (§7.3) from its padding mask [N, H, W] (true = padding):
 * [N, 2] = (#valid columns in row 0 / W, #valid rows in column 0 / H), float32.
 */
export function getValidRatio(mask: Tensor): Tensor {
  const [N, H, W] = mask.shape;
  const validRows = sum(cast(logicalNot(narrow(mask, 2, 0, 1)), "f32"), [1, 2]);
  const validCols = sum(cast(logicalNot(narrow(mask, 1, 0, 1)), "f32"), [1, 2]);
  return reshape(stack([div(validCols, W), div(validRows, H)], -1), [N, 2]);
}

/** Valid ratios of every level, stacked: [N, L, 2] (x first). */
export function getValidRatios(masks: Tensor[]): Tensor {
  return stack(masks.map(getValidRatio), 1);
}

/**
 * Encoder-style reference points (§9.2): for a level-l0 token at (i, j) the base point is
 * ((j + 0.5) / (ratio_x(l0) W), (i + 0.5) / (ratio_y(l0) H)); the point used at level l
 * is base * ratio(l). Returns [N, S, L, 2], computed in float32 like the reference.
 */
export function getReferencePoints(spatialShapes: SpatialShapes, validRatios: Tensor): Tensor {
  const [N, L] = validRatios.shape;
  const opts = { dtype: validRatios.dtype, backend: validRatios.backend };
  const perLevel = spatialShapes.map(([H, W], l) => {
    const grid = new Float32Array(H * W * 2);
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        grid[(i * W + j) * 2] = j + 0.5;
        grid[(i * W + j) * 2 + 1] = i + 0.5;
      }
    }
    const extent = mul(narrow(validRatios, 1, l, 1), tensor(new Float32Array([W, H]), [2], opts));
    return div(tensor(grid, [1, H * W, 2], opts), extent);
  });
  const base = cat(perLevel, 1);
  const S = base.shape[1];
  return mul(reshape(base, [N, S, 1, 2]), reshape(validRatios, [N, 1, L, 2]));
}

/**
 * Decoder reference input: ref [N, Lq, 2] -> ref[:, :, None] * ratios, or boxes
 * [N, Lq, 4] -> ref[:, :, None] * (ratio_x, ratio_y, ratio_x, ratio_y). [N, Lq, L, 2|4].
 */
export function scaleReferencePoints(ref: Tensor, validRatios: Tensor): Tensor {
  const [N, Lq, k] = ref.shape;
  const L = validRatios.shape[1];
  const ratios = k === 4 ? cat([validRatios, validRatios], -1) : validRatios;
  return mul(reshape(ref, [N, Lq, 1, k]), reshape(ratios, [N, 1, L, k]));
}
