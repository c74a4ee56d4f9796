import { fmtShape, ShapeError } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { add, mul, rsqrt, sub } from "./elementwise.ts";
import { mean } from "./reduce.ts";
import { reshape } from "./shape_ops.ts";

/** Mean and biased variance over `axes` (keepdim). */
function moments(x: Tensor, axes: number[]): [Tensor, Tensor] {
  const mu = mean(x, axes, true);
  const c = sub(x, mu);
  return [mu, mean(mul(c, c), axes, true)];
}

/**
 * LayerNorm over the trailing `normalizedShape` axes with optional affine weight and bias
 * (biased variance, like torch.nn.functional.layer_norm).
 */
export function layerNorm(
  x: Tensor,
  normalizedShape: number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  const k = normalizedShape.length;
  if (x.shape.slice(x.rank - k).join() !== normalizedShape.join()) {
    throw new ShapeError(
      "layer_norm",
      `input ${fmtShape(x.shape)} does not end with ${fmtShape(normalizedShape)}`,
    );
  }
  const axes = Array.from({ length: k }, (_, i) => x.rank - k + i);
  const [mu, v] = moments(x, axes);
  let y = mul(sub(x, mu), rsqrt(add(v, eps)));
  if (weight) y = mul(y, weight);
  if (bias) y = add(y, bias);
  return y;
}

/** GroupNorm of x [N, C, ...] with `groups` groups and per-channel affine params. */
export function groupNorm(
  x: Tensor,
  groups: number,
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  const [n, c] = x.shape;
  if (x.rank < 2 || c % groups !== 0) {
    throw new ShapeError(
      "group_norm",
      `${c} channels of ${fmtShape(x.shape)} do not split into ${groups} groups`,
    );
  }
  const g = reshape(x, [n, groups, -1]);
  const [mu, v] = moments(g, [2]);
  let y = reshape(mul(sub(g, mu), rsqrt(add(v, eps))), x.shape);
  const affineShape = [1, c, ...x.shape.slice(2).map(() => 1)];
  if (weight) y = mul(y, reshape(weight, affineShape));
  if (bias) y = add(y, reshape(bias, affineShape));
  return y;
}
