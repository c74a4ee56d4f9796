import { isFloat } from "../tensor/dtype.ts";
import { fmtShape, normAxes, normAxis, type Shape, ShapeError } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { apply1 } from "./dispatch.ts";
import { defineOp } from "./registry.ts";
import { abs, add, cast, div, eq, exp, log, lt, mul, sqrt, sub, where } from "./elementwise.ts";
import { expand, flip, reshape } from "./shape_ops.ts";

function reducedShape(shape: Shape, axes: number[], keepdim: boolean): number[] {
  return keepdim
    ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : shape.filter((_, i) => !axes.includes(i));
}

/** Gradient of a full-size input from the reduced output gradient. */
function broadcastBack(g: Tensor, x: Tensor, axes: number[]): Tensor {
  return expand(reshape(g, reducedShape(x.shape, axes, true)), x.shape);
}

const reduceShape = ([s]: Shape[], a: Record<string, unknown>) => [
  reducedShape(s, a.axes as number[], a.keepdim as boolean),
];

defineOp({
  name: "sum",
  arity: 1,
  shape: reduceShape,
  dtype: ([d]) => [isFloat(d) ? d : "i32"],
  backward: ([g], { inputs: [x], attrs }) => [g && broadcastBack(g, x, attrs.axes)],
});

defineOp({
  name: "mean",
  arity: 1,
  shape: reduceShape,
  dtype: ([d]) => [isFloat(d) ? d : "f32"],
  backward: ([g], { inputs: [x], attrs }) => {
    if (!g) return [null];
    const n = attrs.axes.reduce((m: number, a: number) => m * x.shape[a], 1);
    return [div(broadcastBack(g, x, attrs.axes), n)];
  },
});

/** Like PyTorch: a max/min/argmax over an empty axis has no answer (not -inf or 0). */
function checkNotEmpty(op: string, shape: Shape, axes: number[]): void {
  if (axes.some((a) => shape[a] === 0)) {
    throw new ShapeError(op, `cannot reduce over a zero-size axis of ${fmtShape(shape)}`);
  }
}

for (const name of ["max", "min"]) {
  defineOp({
    name,
    arity: 1,
    check: ([s], _, a) => checkNotEmpty(name, s, a.axes),
    shape: reduceShape,
    dtype: ([d]) => [d],
    // like torch.amax: the gradient is shared evenly between tied extrema
    backward: ([g], { inputs: [x], outputs: [y], attrs }) => {
      if (!g) return [null];
      const hit = cast(eq(x, broadcastBack(y, x, attrs.axes)), g.dtype);
      const count = sum(hit, attrs.axes, true);
      return [mul(div(hit, count), broadcastBack(g, x, attrs.axes))];
    },
  });
}

function reduction(name: string) {
  return (x: Tensor, axes?: number | number[], keepdim = false): Tensor =>
    apply1(name, [x], { axes: normAxes(name, axes, x.rank), keepdim });
}

/** Sum over `axes` (all when omitted). */
export const sum = reduction("sum");
export const mean = reduction("mean");
/** Maximum over `axes` (values only; see argmax). */
export const max = reduction("max");
export const min = reduction("min");

for (const name of ["argmax", "argmin"]) {
  defineOp({
    name,
    arity: 1,
    check: ([s], _, a) => checkNotEmpty(name, s, [a.axis]),
    shape: ([s], a) => [reducedShape(s, [a.axis], a.keepdim)],
    dtype: () => ["i32"],
  });
}

export function argmax(x: Tensor, axis = -1, keepdim = false): Tensor {
  return apply1("argmax", [x], { axis: normAxis("argmax", axis, x.rank), keepdim });
}

export function argmin(x: Tensor, axis = -1, keepdim = false): Tensor {
  return apply1("argmin", [x], { axis: normAxis("argmin", axis, x.rank), keepdim });
}

defineOp({
  name: "cumsum",
  arity: 1,
  shape: ([s]) => [s],
  dtype: ([d]) => [isFloat(d) ? d : "i32"],
  backward: (
    [g],
    { attrs },
  ) => [g && flip(cumsum(flip(g, [attrs.axis]), attrs.axis), [attrs.axis])],
});

export function cumsum(x: Tensor, axis: number): Tensor {
  return apply1("cumsum", [x], { axis: normAxis("cumsum", axis, x.rank) });
}

defineOp({
  name: "softmax",
  arity: 1,
  shape: ([s]) => [s],
  dtype: ([d]) => [d],
  backward: ([g], { outputs: [y], attrs }) => {
    if (!g) return [null];
    return [mul(y, sub(g, sum(mul(g, y), attrs.axis, true)))];
  },
});

defineOp({
  name: "log_softmax",
  arity: 1,
  shape: ([s]) => [s],
  dtype: ([d]) => [d],
  backward: ([g], { outputs: [y], attrs }) => {
    if (!g) return [null];
    return [sub(g, mul(exp(y), sum(g, attrs.axis, true)))];
  },
});

function floatInput(x: Tensor): Tensor {
  return isFloat(x.dtype) ? x : cast(x, "f32");
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return apply1("softmax", [floatInput(x)], { axis: normAxis("softmax", axis, x.rank) });
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return apply1("log_softmax", [floatInput(x)], { axis: normAxis("log_softmax", axis, x.rank) });
}

/** log(sum(exp(x))) over `axes`, computed stably. */
export function logsumexp(x: Tensor, axes: number | number[], keepdim = false): Tensor {
  const ax = normAxes("logsumexp", axes, x.rank);
  const m = max(x, ax, true).withShape(reducedShape(x.shape, ax, true));
  const shift = where(lt(abs(m), Infinity), m, 0);
  const r = add(log(sum(exp(sub(x, shift)), ax, true)), shift);
  return keepdim ? r : reshape(r, reducedShape(x.shape, ax, false));
}

/** Variance with Bessel's correction by default (torch.var's `correction=1`). */
export function variance(
  x: Tensor,
  axes?: number | number[],
  { correction = 1, keepdim = false }: { correction?: number; keepdim?: boolean } = {},
): Tensor {
  const ax = normAxes("var", axes, x.rank);
  const n = ax.reduce((m, a) => m * x.shape[a], 1);
  const centered = sub(x, mean(x, ax, true));
  return div(sum(mul(centered, centered), ax, keepdim), Math.max(n - correction, 0));
}

export function std(
  x: Tensor,
  axes?: number | number[],
  opts: { correction?: number; keepdim?: boolean } = {},
): Tensor {
  return sqrt(variance(x, axes, opts));
}

/** Sums a broadcast gradient back to `shape`. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = axes.length ? sum(g, axes, true) : g;
  return reshape(s, shape);
}
