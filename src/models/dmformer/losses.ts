import type { Tensor } from "../../tensor/tensor.ts";
import { add, div, mul, pow, sigmoid, sub } from "../../ops/elementwise.ts";
import { bceWithLogits } from "../../ops/loss.ts";
import { mean, sum } from "../../ops/reduce.ts";
import { flatten } from "../../ops/shape_ops.ts";

/**
 * Per-element sigmoid focal term: BCE(x, t) (1 - p_t)^gamma alpha_t with
 * p_t = p t + (1 - p)(1 - t), alpha_t = alpha t + (1 - alpha)(1 - t).
 */
export function focalTerm(logits: Tensor, targets: Tensor, alpha = 0.25, gamma = 2): Tensor {
  const p = sigmoid(logits);
  const ce = bceWithLogits(logits, targets);
  const pt = add(mul(p, targets), mul(sub(1, p), sub(1, targets)));
  const oneMinus = sub(1, pt);
  const modulator = gamma === 2 ? mul(oneMinus, oneMinus) : pow(oneMinus, gamma);
  const alphaT = add(mul(targets, alpha), mul(sub(1, targets), 1 - alpha));
  return mul(mul(ce, modulator), alphaT);
}

/** The reference's sigmoid_focal_loss: focal terms, mean over axis 1, summed, / numBoxes. */
export function sigmoidFocalLoss(logits: Tensor, targets: Tensor, numBoxes: number): Tensor {
  return div(sum(mean(focalTerm(logits, targets), 1)), numBoxes);
}

/** The reference's dice_loss: 1 - (2 Σ p t + 1) / (Σ p + Σ t + 1) per row, summed, / numBoxes. */
export function diceLoss(logits: Tensor, targets: Tensor, numBoxes: number): Tensor {
  const p = flatten(sigmoid(logits), 1);
  const t = flatten(targets, 1);
  const num = add(mul(sum(mul(p, t), 1), 2), 1);
  const den = add(add(sum(p, 1), sum(t, 1)), 1);
  return div(sum(sub(1, div(num, den))), numBoxes);
}
