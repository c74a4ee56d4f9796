import type { Tensor } from "../../tensor/tensor.ts";
import { tensor, zeros } from "../../ops/creation.ts";
import { abs, add, cast, div, gt, log, mul, sub, tanh } from "../../ops/elementwise.ts";
import { sum } from "../../ops/reduce.ts";
import { expand, narrow, reshape, stack } from "../../ops/shape_ops.ts";
import { Module, param } from "../../nn/module.ts";
import { linear } from "../../nn/layers.ts";

/**
 * Per query and frame: log area, centroid x and y, and the clip's motion along x, along y and in
 * all (the last tells a shape that is not moving).
 */
export const MASK_GEOMETRY_FEATURES = 6;

/** A clip-level centroid shift of this fraction of the image gives tanh(1) of motion. */
const MOTION_SCALE = 0.02;
const EMPTY = 1e-3;

/**
 * Not in the reference (a recipe option, off by default): a class-logit term for the words the
 * reference's per-frame class head cannot read off one query's appearance, size ("the big
 * star"), place ("the shape on the left") and motion ("the square moving down", "the circle that
 * is not moving"). Each query's own mask (not differentiated) gives [log area, centroid x,
 * centroid y, motion x, motion y, speed]; the motion is the centroid's shift from the clip's first
 * frame to its last, the same for every frame, so the choice of a query can depend on the clip,
 * not only on one frame. The words weigh the features, each word on its own: score = <geometry,
 * sum over the sentence's tokens of W word + b>, so "left" can learn its weight on the centroid's
 * x directly instead of through a pooled sentence vector. W and b start at zero, so the term starts
 * at zero and a model trained without it loads unchanged.
 */
export class MaskGeometryScore extends Module {
  weight: Tensor;
  bias: Tensor;
  /**
   * When set, sees every call's summed sentence words [b, d] and geometry [b, t, q, 6] (the last
   * call of a forward pass is the last decoder layer's); tools/fit_choice.ts reads them.
   */
  observer?: (sentence: Tensor, geometry: Tensor) => void;

  constructor(readonly dim: number) {
    super();
    this.weight = param(zeros([MASK_GEOMETRY_FEATURES, dim]));
    this.bias = param(zeros([MASK_GEOMETRY_FEATURES]));
  }

  /**
   * words [b, L, d] with wordMask [b, L] (1 for the sentence's tokens); masks [b, t, q, mh, mw]
   * mask logits over the padded input `padded` (h, w); imageSizes the unpadded (h, w) per clip.
   * Returns [(b t), q, 1].
   */
  forward(
    words: Tensor,
    wordMask: Tensor,
    masks: Tensor,
    imageSizes: [number, number][],
    padded: [number, number],
  ): Tensor {
    const [b, t, q] = masks.shape;
    const [, L] = wordMask.shape;
    // W is linear, so summing the sentence's words first gives the same per-word sum
    const sentence = sum(mul(words, reshape(cast(wordMask, "f32"), [b, L, 1])), 1);
    const weights = linear(sentence, this.weight, this.bias);
    const geometry = maskGeometry(masks, imageSizes, padded);
    this.observer?.(sentence, geometry);
    const score = sum(mul(geometry, reshape(weights, [b, 1, 1, MASK_GEOMETRY_FEATURES])), -1);
    return reshape(score, [b * t, q, 1]);
  }
}

/**
 * [b, t, q, 6] geometry of every query's mask (logits > 0) in coordinates of its clip's unpadded
 * image: log(area fraction + 1e-3) + 4, centroid x and y mapped to [-1, 1], tanh(shift / 0.02) of
 * the centroid from the first to the last frame along x and y, and tanh((|shift x| + |shift y|) /
 * 0.02) (motion terms are 0 for one frame or when either end is empty). An empty mask has area
 * term log(1e-3) + 4 and centroid 0.
 */
export function maskGeometry(
  masks: Tensor,
  imageSizes: [number, number][],
  [H, W]: [number, number],
): Tensor {
  const [b, t, q, mh, mw] = masks.shape;
  if (imageSizes.length !== b) {
    throw new Error(`mask geometry: ${imageSizes.length} image sizes for a batch of ${b} clips`);
  }
  const backend = masks.backend;
  const sy = H / mh, sx = W / mw;
  const xs = new Float32Array(b * mw), ys = new Float32Array(b * mh), cells = new Float32Array(b);
  imageSizes.forEach(([h, w], i) => {
    for (let x = 0; x < mw; x++) xs[i * mw + x] = ((x + 0.5) * sx) / w;
    for (let y = 0; y < mh; y++) ys[i * mh + y] = ((y + 0.5) * sy) / h;
    cells[i] = (h / sy) * (w / sx);
  });
  const inside = cast(gt(masks.detach(), 0), "f32");
  const area = sum(inside, [3, 4]);
  const centroid = (weights: Tensor) =>
    div(add(sum(mul(inside, weights), [3, 4]), 0.5 * EMPTY), add(area, EMPTY));
  const cx = centroid(tensor(xs, [b, 1, 1, 1, mw], { backend }));
  const cy = centroid(tensor(ys, [b, 1, 1, mh, 1], { backend }));
  const fraction = div(area, tensor(cells, [b, 1, 1], { backend }));
  const sizeTerm = add(log(add(fraction, EMPTY)), 4);
  const place = (c: Tensor) => mul(sub(c, 0.5), 2);
  const geometry = [sizeTerm, place(cx), place(cy)];
  if (t < 2) return stack([...geometry, ...[0, 1, 2].map(() => zeros([b, t, q], { backend }))], -1);
  const present = mul(
    cast(gt(narrow(area, 1, 0, 1), 0), "f32"),
    cast(gt(narrow(area, 1, t - 1, 1), 0), "f32"),
  );
  const shift = (c: Tensor) => sub(narrow(c, 1, t - 1, 1), narrow(c, 1, 0, 1));
  const motion = (s: Tensor) => expand(mul(tanh(mul(s, 1 / MOTION_SCALE)), present), [b, t, q]);
  const dx = shift(cx), dy = shift(cy);
  return stack([...geometry, motion(dx), motion(dy), motion(add(abs(dx), abs(dy)))], -1);
}
