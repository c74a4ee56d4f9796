import type { Tensor } from "../../tensor/tensor.ts";
import { add, cast, div, gt, mul } from "../../ops/elementwise.ts";
import { matmul } from "../../ops/matmul.ts";
import { sum } from "../../ops/reduce.ts";
import { interpolate } from "../../ops/resample.ts";
import { reshape } from "../../ops/shape_ops.ts";
import { Module } from "../../nn/module.ts";
import { Linear } from "../../nn/layers.ts";

/**
 * Not in the reference (a recipe option, off by default): a class-logit term that compares the
 * sentence with what each query segments. The fused memory tokens of the stride-8 level are
 * averaged under the query's own mask (mask > 0, not differentiated: this term must not move the
 * masks), and the average is scored against the query's text content `tgt` with a bilinear form
 * <W_v pooled, W_t tgt> / sqrt(d), GLIP-style region-word alignment. The reference's `Linear(d,
 * 1)` on the decoder output has to find "this object matches the sentence" in the decoder output,
 * which on Ref-Shapes barely carries the object's colour (docs/demo.md).
 */
export class MaskPooledAlignment extends Module {
  visual: Linear;
  text: Linear;

  constructor(readonly dim: number) {
    super();
    this.visual = new Linear(dim, dim);
    this.text = new Linear(dim, dim);
  }

  /**
   * tgt [(b t), q, d]; masks [b, t, q, mh, mw] mask logits; tokens [(b t), h*w, d] on the
   * [h, w] grid the masks cover. Returns [(b t), q, 1].
   */
  forward(tgt: Tensor, masks: Tensor, tokens: Tensor, [h, w]: [number, number]): Tensor {
    const [b, t, q, mh, mw] = masks.shape;
    const inside = cast(gt(masks.detach(), 0), tokens.dtype);
    const cells = interpolate(reshape(inside, [b * t, q, mh, mw]), {
      size: [h, w],
      mode: "bilinear",
    });
    const weights = reshape(cells, [b * t, q, h * w]);
    const pooled = div(matmul(weights, tokens), add(sum(weights, -1, true), 1e-6));
    const score = sum(mul(this.visual.forward(pooled), this.text.forward(tgt)), -1, true);
    return mul(score, 1 / Math.sqrt(this.dim));
  }
}
