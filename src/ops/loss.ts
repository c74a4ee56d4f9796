import type { Tensor } from "../tensor/tensor.ts";
import { fmtShape, ShapeError } from "../tensor/shape.ts";
import { abs, add, div, exp, log, maximum, mul, neg, sub } from "./elementwise.ts";
import { gather } from "./indexing.ts";
import { logSoftmax, mean, sum } from "./reduce.ts";
import { reshape, unsqueeze } from "./shape_ops.ts";

/**
 * Mean cross-entropy of logits [n, c] against integer class labels [n]. With `weights` [n] (one
 * per row) it is the weighted mean -sum(w_i log p_i) / sum(w_i), which is PyTorch's `weight=` when
 * w_i is the weight of row i's class.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, weights?: Tensor): Tensor {
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new ShapeError(
      "cross_entropy",
      `logits ${fmtShape(logits.shape)} must be [n, c] and labels ${fmtShape(labels.shape)} [n]`,
    );
  }
  if (weights && (weights.rank !== 1 || weights.shape[0] !== logits.shape[0])) {
    throw new ShapeError(
      "cross_entropy",
      `weights ${fmtShape(weights.shape)} must be [n] for logits ${fmtShape(logits.shape)}`,
    );
  }
  const picked = reshape(gather(logSoftmax(logits, 1), 1, unsqueeze(labels, 1)), [-1]);
  if (!weights) return neg(mean(picked));
  return neg(div(sum(mul(picked, weights)), sum(weights)));
}

/**
 * Elementwise binary cross-entropy with logits, the stable form PyTorch uses:
 * max(x, 0) - x*t + log(1 + exp(-|x|)). No reduction.
 */
export function bceWithLogits(logits: Tensor, targets: Tensor): Tensor {
  const x = logits;
  return add(sub(maximum(x, 0), mul(x, targets)), log(add(exp(neg(abs(x))), 1)));
}
