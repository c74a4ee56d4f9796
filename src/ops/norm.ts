import type { Attrs } from "../backend/backend.ts";
import { normGeometry, type NormKind } from "../backend/norm_geometry.ts";
import { type DType, isFloat } from "../tensor/dtype.ts";
import { fmtShape, type Shape, ShapeError, sizeOf } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { apply } from "./dispatch.ts";
import { type BackwardContext, defineOp } from "./registry.ts";

/*
 * layer_norm / group_norm: inputs [x, weight?, bias?] (attrs hasWeight / hasBias say which),
 * outputs [y, mean, rstd] with one mean and 1 / sqrt(var + eps) per normalised row (biased
 * variance), kept for the backward op. The backward ops take [gy, x, mean, rstd, weight?] and
 * return [dx] or, with any affine parameter, [dx, dweight, dbias].
 */

function checkNorm(kind: NormKind, shapes: Shape[], dtypes: DType[], attrs: Attrs): void {
  const [x] = shapes;
  const params = shapes.length - 1;
  if (params !== Number(!!attrs.hasWeight) + Number(!!attrs.hasBias)) {
    throw new Error(`${kind}: ${params} parameter tensors disagree with hasWeight / hasBias`);
  }
  if (!dtypes.every((d) => isFloat(d)) || new Set(dtypes).size !== 1) {
    throw new Error(`${kind}: inputs must share one float dtype, got ${dtypes.join(", ")}`);
  }
  const { channels } = normGeometry(kind, x, attrs);
  for (const p of shapes.slice(1)) {
    if (sizeOf(p) !== channels) {
      throw new ShapeError(
        kind,
        `weight / bias ${fmtShape(p)} must hold ${channels} values for input ${fmtShape(x)}`,
      );
    }
  }
}

/** Shape of weight, bias and their gradients. */
function paramShape(kind: NormKind, x: Shape, attrs: Attrs): number[] {
  return kind === "layer_norm" ? x.slice(x.length - attrs.dims) : [x[1]];
}

function statsShape(kind: NormKind, x: Shape, attrs: Attrs): number[] {
  return kind === "layer_norm" ? x.slice(0, x.length - attrs.dims) : [x[0], attrs.groups];
}

function normBackward(
  kind: NormKind,
  [g]: (Tensor | null)[],
  { inputs, outputs, attrs }: BackwardContext,
): (Tensor | null)[] {
  if (!g) return inputs.map(() => null);
  const [x, ...params] = inputs;
  const [, mean, rstd] = outputs;
  const weight = attrs.hasWeight ? [params[0]] : [];
  const [dx, dw, db] = apply(`${kind}_backward`, [g, x, mean, rstd, ...weight], attrs);
  if (!attrs.hasWeight) dw?.dispose();
  return [dx, ...(attrs.hasWeight ? [dw] : []), ...(attrs.hasBias ? [db] : [])];
}

for (const kind of ["layer_norm", "group_norm"] as const) {
  defineOp({
    name: kind,
    arity: -1,
    check: (shapes, dtypes, attrs) => checkNorm(kind, shapes, dtypes, attrs),
    shape: ([x], a) => [x, statsShape(kind, x, a), statsShape(kind, x, a)],
    dtype: ([d]) => [d, d, d],
    backward: (grads, ctx) => normBackward(kind, grads, ctx),
  });

  defineOp({
    name: `${kind}_backward`,
    arity: -1,
    internal: true,
    shape: ([, x], a) => {
      const p = paramShape(kind, x, a);
      return a.hasWeight || a.hasBias ? [x, p, p] : [x];
    },
    dtype: ([d], a) => (a.hasWeight || a.hasBias ? [d, d, d] : [d]),
  });
}

/** Runs a norm op and returns y; mean / rstd are freed unless autograd keeps them. */
function runNorm(
  kind: NormKind,
  x: Tensor,
  weight: Tensor | null | undefined,
  bias: Tensor | null | undefined,
  attrs: Attrs,
): Tensor {
  const params = [weight, bias].filter((p): p is Tensor => !!p);
  const [y, mean, rstd] = apply(kind, [x, ...params], {
    ...attrs,
    hasWeight: !!weight,
    hasBias: !!bias,
  });
  if (!y.node) {
    mean.dispose();
    rstd.dispose();
  }
  return y;
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
  if (k > x.rank || x.shape.slice(x.rank - k).join() !== normalizedShape.join()) {
    throw new ShapeError(
      "layer_norm",
      `input ${fmtShape(x.shape)} does not end with ${fmtShape(normalizedShape)}`,
    );
  }
  return runNorm("layer_norm", x, weight, bias, { dims: k, eps });
}

/** GroupNorm of x [N, C, ...] with `groups` groups and per-channel affine params. */
export function groupNorm(
  x: Tensor,
  groups: number,
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  const c = x.shape[1];
  if (x.rank < 2 || !(groups > 0) || c % groups !== 0) {
    throw new ShapeError(
      "group_norm",
      `${c} channels of ${fmtShape(x.shape)} do not split into ${groups} groups`,
    );
  }
  return runNorm("group_norm", x, weight, bias, { groups, eps });
}
